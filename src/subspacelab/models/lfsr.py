"""MLFSR's light-field super-resolution network at small width, with a pluggable token mixer (RSGao/MLFSR
``model/SR/MLFSR.py``; docs/research/mlfsr.md sections 1-3).

A light field's features are (b, C, U V, h, w). Its four 2-D subspaces (``SUBSPACES``) are the slices that one
token sequence runs through, in raster order (the first named axis slow), every other axis a batch axis:
spatial (h, w) per view, angular (u, v) per pixel, and the two epipolar-plane slices (u, h) at fixed (v, w) and
(v, w) at fixed (u, h). ``to_slices``/``from_slices`` move between the light field and a subspace's slices.

``SubspaceBlock`` (the code's ``BasicSS2D``) on a batch of slices: tokens t = x + mixer(LN(x)); then
LN(t) back on the slice's grid -> channel-attention block -> depth-wise 3 x 3 conv, + t; then + gamma x with a
layer scale gamma (1e-4 at init). The mixer is what differs between the arms:
- ``mamba``: MLFSR's bidirectional Mamba (``models.bimamba.BiMamba``, v2: own backward scan, outputs summed);
- ``transformer``: global multi-head self-attention over the same sequences (softmax(QK^T / sqrt(d)) V written out,
  so the L x L scores exist as on a GPU; width 2C as EPIT's attention), the tiny-transformer baseline and teacher;
- ``conv``: a 3 x 3 convolution on the slice and GELU (local), the CNN baseline with the same skeleton.

``AltFilter``: x0 -> block on the first subspace -> conv stack, + x0 = x1; x1 -> block on the second subspace
-> the same conv stack, + x0 (both residuals to the input, as in the code). The EPI filter uses one block for both
EPI orientations; the spatial-angular filter has one block per subspace. The conv stack is three per-view 3 x 3
convolutions with LeakyReLU(0.2) between. ``SpatialAngularModulator`` (SAM): two sigmoid gates from 1 x 1
convolutions, one after the other, no residual.

``LightFieldSR``: per-view 3 x 3 conv to C channels and a residual stack of three; ``groups`` x [EPI filter,
spatial-angular filter, SAM] (the output is the "deep feature" the T2M loss matches); a global residual; an upsampler
on the sub-aperture mosaic (1 x 1 conv to C s², pixel shuffle, LeakyReLU, 3 x 3 conv to one channel); plus the
bicubic upsample of each view. Input (b, U V, h, w), output ``(sr (b, U V, s h, s w), deep feature)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from subspacelab.data.light_fields import upsample_views
from subspacelab.models.bimamba import BiMamba

SUBSPACES = {
    # name: (batch axes, sequence axes) over the axes (b, c, u, v, h, w) = (0, 1, 2, 3, 4, 5)
    "spatial": ((0, 2, 3), (4, 5)),
    "angular": ((0, 4, 5), (2, 3)),
    "epi_uh": ((0, 3, 5), (2, 4)),  # fixed (v, w): the sequence runs over (u, h)
    "epi_vw": ((0, 2, 4), (3, 5)),  # fixed (u, h): the sequence runs over (v, w)
}
MIXERS = ("mamba", "transformer", "conv")


def to_slices(x: torch.Tensor, ang: int, subspace: str) -> torch.Tensor:
    """(b, c, ang², h, w) -> (n, c, r, s): the subspace's 2-D slices, n the product of the batch axes."""
    batch, seq = SUBSPACES[subspace]
    x6 = x.unflatten(2, (ang, ang)).permute(*batch, 1, *seq)
    return x6.reshape(-1, *x6.shape[3:])


def from_slices(y: torch.Tensor, ang: int, subspace: str, shape: torch.Size) -> torch.Tensor:
    """The inverse of ``to_slices`` for a light field of ``shape`` (b, c, ang², h, w)."""
    batch, seq = SUBSPACES[subspace]
    b, c, _, h, w = shape
    sizes = dict(zip(range(6), (b, c, ang, ang, h, w), strict=True))
    order = (*batch, 1, *seq)
    x6 = y.reshape(*(sizes[a] for a in order)).permute(*(order.index(a) for a in range(6)))
    return x6.reshape(shape)


def views_to_mosaic(x: torch.Tensor, ang: int) -> torch.Tensor:
    """(b, c, ang², h, w) -> (b, c, ang h, ang w): view (u, v) in tile (u, v), the sub-aperture mosaic."""
    b, c, _, h, w = x.shape
    return x.view(b, c, ang, ang, h, w).permute(0, 1, 2, 4, 3, 5).reshape(b, c, ang * h, ang * w)


def mosaic_to_views(m: torch.Tensor, ang: int) -> torch.Tensor:
    """The inverse of ``views_to_mosaic``."""
    b, c, hh, ww = m.shape
    h, w = hh // ang, ww // ang
    return m.view(b, c, ang, h, ang, w).permute(0, 1, 2, 4, 3, 5).reshape(b, c, ang * ang, h, w)


class SelfAttention(nn.Module):
    """Pre-normalised tokens (n, L, C) -> (n, L, C): multi-head attention at width ``width``, the scores written out."""

    def __init__(self, channels: int, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(channels, 3 * width)
        self.out = nn.Linear(width, channels)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        n, length, _ = tokens.shape
        q, k, v = self.qkv(tokens).view(n, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        scores = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
        return self.out((scores @ v).transpose(1, 2).reshape(n, length, -1))


class SliceConv(nn.Module):
    """Pre-normalised tokens (n, L, C) of an r x s slice -> a 3 x 3 convolution on the slice and GELU."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        n, _, c = tokens.shape
        y = self.conv(tokens.transpose(1, 2).reshape(n, c, *grid))
        return F.gelu(y).flatten(2).transpose(1, 2)


class ScanMixer(nn.Module):
    """Bidirectional Mamba over the raster sequence of each slice."""

    def __init__(self, channels: int, d_state: int):
        super().__init__()
        self.mamba = BiMamba(channels, d_state=d_state, expand=2)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        return self.mamba(tokens)


def make_mixer(mixer: str, channels: int, d_state: int = 8, heads: int = 2) -> nn.Module:
    if mixer == "mamba":
        return ScanMixer(channels, d_state)
    if mixer == "transformer":
        return SelfAttention(channels, 2 * channels, heads)
    if mixer == "conv":
        return SliceConv(channels)
    raise ValueError(f"unknown mixer {mixer!r}: choose from {', '.join(MIXERS)}")


class ChannelAttentionBlock(nn.Module):
    """RCAN/HAT's CAB: 3 x 3 conv C -> C / compress, GELU, 3 x 3 conv back, times a squeeze-excite gate."""

    def __init__(self, channels: int, compress: int = 3, squeeze: int = 8):
        super().__init__()
        mid, hidden = max(1, channels // compress), max(1, channels // squeeze)
        self.body = nn.Sequential(
            nn.Conv2d(channels, mid, 3, padding=1), nn.GELU(), nn.Conv2d(mid, channels, 3, padding=1)
        )
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        y = self.body(x)
        return y * self.gate(y)


class SubspaceBlock(nn.Module):
    """The code's BasicSS2D on slices (n, C, r, s) (module doc)."""

    def __init__(self, channels: int, mixer: str, d_state: int = 8):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.mixer = make_mixer(mixer, channels, d_state)
        self.cab = ChannelAttentionBlock(channels)
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.gamma = nn.Parameter(torch.full((channels,), 1e-4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, r, s = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        t = tokens + self.mixer(self.norm1(tokens), (r, s))
        grid = lambda z: z.transpose(1, 2).reshape(n, c, r, s)  # noqa: E731
        y = self.depthwise(self.cab(grid(self.norm2(t)))) + grid(t)
        return y + self.gamma.view(1, c, 1, 1) * x


def conv_stack(channels: int) -> nn.Sequential:
    """Three per-view 3 x 3 convolutions with LeakyReLU(0.2) between."""
    conv = lambda: nn.Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1), bias=False)  # noqa: E731
    return nn.Sequential(conv(), nn.LeakyReLU(0.2), conv(), nn.LeakyReLU(0.2), conv())


class AltFilter(nn.Module):
    """x0 -> block on ``first`` -> convs, + x0; -> block on ``second`` -> the same convs, + x0 (module doc)."""

    def __init__(
        self, channels: int, ang: int, first: str, second: str, mixer: str, d_state: int, share: bool
    ):
        super().__init__()
        self.ang, self.first, self.second = ang, first, second
        self.block_first = SubspaceBlock(channels, mixer, d_state)
        self.block_second = self.block_first if share else SubspaceBlock(channels, mixer, d_state)
        self.convs = conv_stack(channels)

    def _pass(self, x, block, subspace):
        return from_slices(block(to_slices(x, self.ang, subspace)), self.ang, subspace, x.shape)

    def forward(self, x):
        x1 = self.convs(self._pass(x, self.block_first, self.first)) + x
        return self.convs(self._pass(x1, self.block_second, self.second)) + x


class SpatialAngularModulator(nn.Module):
    """Two sigmoid gates from 1 x 1 convolutions, one after the other, no residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.spatial = nn.Conv3d(channels, channels, 1)
        self.angular = nn.Conv3d(channels, channels, 1)

    def forward(self, x):
        y = torch.sigmoid(self.spatial(x)) * x
        return torch.sigmoid(self.angular(y)) * y


class LightFieldSR(nn.Module):
    """(b, ang², h, w) low-resolution views -> (super-resolved views, deep feature) (module doc)."""

    def __init__(
        self, mixer: str, channels: int = 16, groups: int = 2, ang: int = 5, scale: int = 2, d_state: int = 8
    ):
        super().__init__()
        self.ang, self.scale = ang, scale
        self.stem = nn.Conv3d(1, channels, (1, 3, 3), padding=(0, 1, 1), bias=False)
        conv = lambda: nn.Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1), bias=False)  # noqa: E731
        self.stem_body = nn.Sequential(
            conv(), nn.LeakyReLU(0.2), conv(), nn.LeakyReLU(0.2), conv(), nn.LeakyReLU(0.2)
        )
        body = []
        for _ in range(groups):
            body += [
                AltFilter(channels, ang, "epi_uh", "epi_vw", mixer, d_state, share=True),
                AltFilter(channels, ang, "spatial", "angular", mixer, d_state, share=False),
                SpatialAngularModulator(channels),
            ]
        self.body = nn.Sequential(*body)
        self.upsample = nn.Sequential(
            nn.Conv2d(channels, channels * scale**2, 1),
            nn.PixelShuffle(scale),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 1, 3, padding=1),
        )

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shallow = self.stem(lr.unsqueeze(1))
        shallow = self.stem_body(shallow) + shallow
        deep = self.body(shallow)
        mosaic = self.upsample(views_to_mosaic(deep + shallow, self.ang))
        sr = mosaic_to_views(mosaic, self.ang)[:, 0]
        return sr + upsample_views(lr, self.scale), deep
