"""A small convolutional encoder and the MMCR/Barlow-Twins projector head, for multi-view self-supervision at
cpu scale (the MMCR code's CIFAR backbone is a ResNet-50 with a 3x3 stem; its head 2048 -> 512 -> 128).

``ConvEncoder``: blocks of 3x3 conv (no bias) - batch norm - ReLU, a 2x2 max-pool after every block but the
last, then global average pooling: a ``channels[-1]``-d feature. ``Projector``: Linear (no bias) - BN - ReLU -
Linear (no bias), as the MMCR code's projector. ``norm=False`` leaves out the batch norms (the DDP tests compare
2 ranks with one process, which per-rank batch statistics would break)."""

from __future__ import annotations

from torch import Tensor, nn


class ConvEncoder(nn.Module):
    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = (16, 32, 64), norm: bool = True):
        super().__init__()
        layers, c_in = [], in_channels
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=not norm)]
            layers += [nn.BatchNorm2d(c)] if norm else []
            layers += [nn.ReLU(inplace=True)]
            if i < len(channels) - 1:
                layers += [nn.MaxPool2d(2)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.out_dim = int(channels[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).mean((-2, -1))


class Projector(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 512, out_dim: int = 128, norm: bool = True):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden, bias=not norm),
            *([nn.BatchNorm1d(hidden)] if norm else []),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, out_dim, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
