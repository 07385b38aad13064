"""``SplitVAE``: one convolutional Gaussian encoder per latent group and one decoder on the concatenated sample,
after the XFactors code (nicoboou/xfactors ``arch/vae/block.py``: two independent encoders E_S and E_T, one
decoder on [z_S; z_T]), scaled down to 32x32 images. One group of dimension d is a plain (β-)VAE.

Encoder: three 4x4 stride-2 convolutions (32, 64, 128 channels; batch norm, LeakyReLU 0.2) to 4x4, then a linear
map to (μ, log σ²), log σ² clamped to [−20, 20] as in the code. Decoder: the mirror image, to logits.
``norm=False`` leaves out the batch norms (the DDP tests compare 2 ranks with one process)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _block(conv: nn.Module, channels: int, norm: bool) -> list[nn.Module]:
    return [conv, *([nn.BatchNorm2d(channels)] if norm else []), nn.LeakyReLU(0.2)]


class Encoder(nn.Module):
    def __init__(self, latent: int, in_channels: int = 1, width: int = 32, norm: bool = True):
        super().__init__()
        c = [in_channels, width, 2 * width, 4 * width]
        layers = []
        for a, b in zip(c, c[1:], strict=False):
            layers += _block(nn.Conv2d(a, b, 4, 2, 1, bias=not norm), b, norm)
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(c[-1] * 16, 2 * latent)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=-1)
        return mu, logvar.clamp(-20, 20)


class Decoder(nn.Module):
    def __init__(self, latent: int, out_channels: int = 1, width: int = 32, norm: bool = True):
        super().__init__()
        self.width = width
        self.head = nn.Linear(latent, 4 * width * 16)
        c = [4 * width, 2 * width, width]
        layers = []
        for a, b in zip(c, c[1:], strict=False):
            layers += _block(nn.ConvTranspose2d(a, b, 4, 2, 1, bias=not norm), b, norm)
        self.body = nn.Sequential(*layers, nn.ConvTranspose2d(width, out_channels, 4, 2, 1))

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.head(z).view(len(z), 4 * self.width, 4, 4))


class SplitVAE(nn.Module):
    """Encoders for latent groups of sizes ``groups``; ``encode`` gives each group's (μ, log σ²)."""

    def __init__(self, groups: list[int], in_channels: int = 1, width: int = 32, norm: bool = True):
        super().__init__()
        self.groups = [int(g) for g in groups]
        self.encoders = nn.ModuleList(Encoder(g, in_channels, width, norm) for g in self.groups)
        self.decoder = Decoder(sum(self.groups), in_channels, width, norm)

    @property
    def latent(self) -> int:
        return sum(self.groups)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, log σ²) of the whole latent, the groups concatenated in order."""
        parts = [enc(x) for enc in self.encoders]
        return torch.cat([p[0] for p in parts], -1), torch.cat([p[1] for p in parts], -1)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)
