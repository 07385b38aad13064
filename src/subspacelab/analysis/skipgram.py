"""Skip-gram word2vec with negative sampling (gensim's ``Word2Vec``, ``sg=1``), seeded and single-threaded
so that a seed gives the same vectors every time, and a vocabulary cut that maps rare tokens to ``UNK``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNK = "UNK"


@dataclass(frozen=True)
class Embedding:
    """Token vectors: ``vectors[i]`` is the vector of ``words[i]``; ``counts[i]`` its training frequency."""

    words: tuple[str, ...]
    vectors: np.ndarray
    counts: np.ndarray

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def unit(self) -> np.ndarray:
        """Rows scaled to unit length (zero rows stay zero)."""
        norm = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        return self.vectors / np.where(norm > 0, norm, 1.0)


def cap_vocabulary(sentences: Sequence[Sequence[str]], size: int) -> list[list[str]]:
    """Keep the ``size - 1`` most frequent tokens (ties: first seen) and replace the rest by ``UNK``, so the
    vocabulary has at most ``size`` entries with ``UNK`` (the official code's cut, vocabulary_size = 2000)."""
    counts = Counter(t for s in sentences for t in s)
    kept = {t for t, _ in counts.most_common(max(size - 1, 0))}
    return [[t if t in kept else UNK for t in s] for s in sentences]


def train_skipgram(
    sentences: Sequence[Sequence[str]],
    dim: int = 64,
    window: int = 4,
    negative: int = 5,
    epochs: int = 5,
    alpha: float = 0.025,
    sample: float = 0.0,
    seed: int = 0,
) -> Embedding:
    """Skip-gram with negative sampling on ``sentences`` (lists of tokens; every token is kept:
    ``min_count=1``). One worker thread: gensim is then deterministic for a given seed."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=[list(s) for s in sentences],
        vector_size=int(dim),
        window=int(window),
        negative=int(negative),
        hs=0,
        sg=1,
        min_count=1,
        sample=float(sample),
        alpha=float(alpha),
        epochs=int(epochs),
        seed=int(seed),
        workers=1,
    )
    kv = model.wv
    words = tuple(kv.index_to_key)
    counts = np.array([kv.get_vecattr(w, "count") for w in words], dtype=np.int64)
    return Embedding(words, np.array(kv.vectors, dtype=np.float64), counts)
