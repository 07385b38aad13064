"""How diverse a synthetic text dataset is: coverage of the attribute space and the mean pairwise cosine
similarity of TF-IDF vectors (lower is more diverse; the TreeSynth paper reports a pairwise-similarity
"diversity" of embeddings, lower better)."""

from __future__ import annotations

import numpy as np

from subspacelab.synthesis.word_problems import combination_index


def coverage(combos: np.ndarray, n_total: int, columns: list[int] | None = None) -> float:
    """Share of the space's combinations (or of the combinations of ``columns``) present at least once."""
    combos = np.asarray(combos)
    if columns is None:
        return len(np.unique(combination_index(combos))) / n_total
    return len({tuple(r) for r in combos[:, columns].tolist()}) / n_total


def mean_pairwise_cosine(texts: list[str]) -> float:
    """Mean cosine similarity over distinct pairs of TF-IDF vectors (word uni- and bigrams, scikit-learn)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"[A-Za-z]+").fit_transform(texts)  # rows L2-normed
    n = x.shape[0]
    total = np.asarray(x.sum(0)).ravel()
    # sum over all ordered pairs of <x_i, x_j> = ||sum_i x_i||^2; drop the n diagonal terms (each 1)
    return float((total @ total - n) / (n * (n - 1)))
