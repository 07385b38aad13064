"""A small conv net whose middle layers give a grid of patch features (the frozen backbone of anomaly detection
by patch features, standing in for a ViT's patch tokens)."""

from __future__ import annotations

import torch
from torch import nn


class PatchConvNet(nn.Module):
    """28×28 grey images: conv 32 (28×28), conv 64 stride 2 (14×14), ``depth`` conv 64 layers at 14×14 (the patch
    layers), conv 128 stride 2 (7×7), global average pool, linear classifier. ``patch_features`` averages the
    patch layers' outputs element-wise (as SubspaceAD averages a run of DINOv2's middle layers): (n, 14·14, 64)."""

    def __init__(self, num_classes: int = 10, width: int = 64, depth: int = 2):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, width, 3, stride=2, padding=1), nn.ReLU()
        )
        self.patch_layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU()) for _ in range(depth)
        )
        self.top = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for layer in self.patch_layers:
            h = layer(h)
        return self.head(self.top(h).mean((2, 3)))

    @torch.no_grad()
    def patch_features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        total = torch.zeros_like(h)
        for layer in self.patch_layers:
            h = layer(h)
            total = total + h
        mean = total / len(self.patch_layers)
        return mean.flatten(2).transpose(1, 2)  # (n, grid*grid, width), row-major over the grid

    @property
    def grid(self) -> int:
        return 14
