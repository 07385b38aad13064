"""A small bag-of-n-grams text classifier and its vocabulary (numbers become one token per digit count).

Used by papers that train a model on generated text (treesynth): the vocabulary comes from the training texts
only, so an n-gram the training data never showed is unknown (dropped) at test time."""

from __future__ import annotations

import re

import torch
from torch import nn

PAD = 0
_TOKEN = re.compile(r"[A-Za-z]+|\d+|[.?]")


def words(text: str) -> list[str]:
    return [f"<n{len(t)}>" if t.isdigit() else t.lower() for t in _TOKEN.findall(text)]


def ngrams(text: str) -> list[str]:
    """Word unigrams and bigrams of a text, in order."""
    w = words(text)
    return w + [f"{a} {b}" for a, b in zip(w, w[1:], strict=False)]


class Vocabulary:
    def __init__(self, texts: list[str]):
        seen = sorted({g for t in texts for g in ngrams(t)})
        self.index = {g: i + 1 for i, g in enumerate(seen)}  # 0: padding

    def __len__(self) -> int:
        return len(self.index) + 1

    def encode(self, texts: list[str]) -> torch.Tensor:
        """Known n-gram ids (n, longest) padded with 0; unknown n-grams are dropped."""
        rows = [[self.index[g] for g in ngrams(t) if g in self.index] for t in texts]
        out = torch.full((len(rows), max(1, max(map(len, rows), default=1))), PAD, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return out


class BagOfNgramsClassifier(nn.Module):
    """Sum of n-gram embeddings -> ReLU -> linear: counts of phrases, not their positions, decide the class."""

    def __init__(self, vocab_size: int, num_classes: int, hidden: int = 64):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab_size, hidden, mode="sum", padding_idx=PAD)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.embed(ids)))
