"""Small uni-modal encoders for plato_cave: a PointNet for 2-D point clouds and a bag-of-words MLP for
captions. Each has ``features(x)`` (the representation that gets aligned) and ``forward(x)`` (its self-supervised
pretext head on top: rotation prediction, masked-word prediction)."""

from __future__ import annotations

import torch
from torch import nn


class PointNetEncoder(nn.Module):
    """PointNet (Qi et al. 2017) without the transform nets: a shared per-point MLP, a max over the points
    (invariant to their order), then an MLP to ``feature_dim``."""

    def __init__(self, num_outputs: int, width: int = 64, feature_dim: int = 64, in_dim: int = 2):
        super().__init__()
        self.point_mlp = nn.Sequential(
            nn.Linear(in_dim, width), nn.ReLU(), nn.Linear(width, 2 * width), nn.ReLU()
        )
        self.project = nn.Linear(2 * width, feature_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim, num_outputs))

    def features(self, points: torch.Tensor) -> torch.Tensor:
        """(N, P, 2) clouds -> (N, feature_dim), the pre-activation of the last hidden layer."""
        return self.project(self.point_mlp(points).amax(1))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(points))


class CaptionEncoder(nn.Module):
    """A bag of words: the sum of a caption's word embeddings (padding embeds to zero; word order is not seen),
    through an MLP to ``feature_dim``."""

    def __init__(self, vocab_size: int, num_outputs: int, embed: int = 64, hidden: int = 128, feature_dim=64):
        super().__init__()
        self.words = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(embed, hidden), nn.ReLU(), nn.Linear(hidden, feature_dim))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim, num_outputs))

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """(N, length) word ids -> (N, feature_dim), the pre-activation of the last hidden layer."""
        return self.mlp(self.words(ids).sum(1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(ids))
