"""ADSL's embedding network at cpu scale (docs/research/dynamic_subspace_learners.md §1): a convolutional feature
map weighted by a learnt spatial attention map, average-pooled (the "penultimate" feature, which ADSL clusters),
then one linear layer whose output neurons are split into learners, each block L2-normalised on its own.

The code's backbone is an ImageNet ResNet-50 cut after layer3 (1024 channels); here a ``ConvEncoder`` body trained
from scratch. The attention head keeps the code's shape: three 3x3 convolutions C -> C/8 -> C/32 -> 1 (at least
one channel each), ReLU, ReLU, sigmoid, multiplied into every channel of the map before pooling."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from subspacelab.metric.learners import normalize_per_learner, split_sizes
from subspacelab.models.conv_encoder import ConvEncoder


class SpatialAttention(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        mid, low = max(channels // 8, 1), max(channels // 32, 1)
        self.net = nn.Sequential(
            nn.Conv2d(channels, mid, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, low, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(low, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, fmap: Tensor) -> Tensor:
        """(B, 1, H, W) weights in (0, 1)."""
        return self.net(fmap)


def attention_pool(body: nn.Module, attention: SpatialAttention, x: Tensor) -> Tensor:
    """The feature map of ``body`` weighted by its ``attention`` map, average-pooled: (B, C)."""
    fmap = body(x)
    return (fmap * attention(fmap)).mean((-2, -1))


class AttentionEmbedder(nn.Module):
    def __init__(
        self,
        in_channels: int = 1,
        channels: tuple[int, ...] = (32, 64, 64),
        dim: int = 128,
        learners: int = 1,
        dropout: float = 0.01,
        norm: bool = True,
    ):
        super().__init__()
        self.body = ConvEncoder(in_channels, channels, norm=norm).body
        self.attention = SpatialAttention(channels[-1])
        self.dropout = nn.Dropout(dropout)
        self.embedding = nn.Linear(channels[-1], dim)
        self.sizes = split_sizes(dim, learners)

    def pooled(self, x: Tensor) -> Tensor:
        return attention_pool(self.body, self.attention, x)

    @torch.no_grad()
    def penultimate(self, x: Tensor) -> Tensor:
        """The L2-normalised attention-pooled feature: what ADSL's k-means clusters."""
        return nn.functional.normalize(self.pooled(x), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, dim): the learners' blocks, each of unit norm."""
        return normalize_per_learner(self.embedding(self.dropout(self.pooled(x))), self.sizes)
