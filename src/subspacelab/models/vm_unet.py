"""A small VM-UNet (Ruan & Xiang 2024) whose token mixer is either VMamba's SS2D or MHS-VM's multi-head scan
in parallel subspaces (Ji 2024). Read from the official code (JCruan519/VM-UNet, PixDeep/MHS-VM ``mhsm.py``):
docs/research/mhs_vm.md sections 1-3; the depths, widths and state size here are ours (cpu scale).

- ``RouteS6``: K selective scans over one (b, c, h, w) map, one S6 parameter set per route (x_proj, dt_proj,
  A_log, D), run as K groups of one ``selective_scan`` call; outputs back in row-major order, (b, K, c, l).
- ``SS2D``: in_proj d -> 2 * (2d), depthwise 3x3 conv + SiLU, RouteS6 over the 4 raster routes at width 2d, the plain
  sum of the routes, LayerNorm, times SiLU(z), out_proj 2d -> d.
- ``MHSMixer`` (MHS-VM's ``VSSGate`` around ``MHSM``): in_proj d -> 2d, depthwise conv + SiLU, a bias-free projection
  d -> k * s into k subspaces of s = d / k channels, one head per scan pattern (C, X, S, Z), each a RouteS6 over its
  pattern's 4 routes at width s; the 4 route outputs fused by the route attention ``route_gate`` (or summed),
  the heads concatenated, LayerNorm, y_proj k s -> d, LayerNorm, times SiLU(z).
- ``VMUNet``: patch embedding (conv, stride 4), encoder stages with patch merging, decoder stages with patch
  expanding and additive skips (each decoder stage after the first adds the input of the mirrored encoder stage),
  a final x4 expansion and a 1x1 conv to one logit per pixel.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from subspacelab.models.scan_routes import (
    cross_merge,
    cross_scan,
    pattern_routes,
)
from subspacelab.models.selective_scan import initial_A_log, initial_dt_bias, selective_scan


class RouteS6(nn.Module):
    """K independent S6 scans of a c-channel map, one per route (Mamba's initialisation: A = -[1..n] per channel,
    D = 1, dt bias the inverse softplus of log-uniform steps in [1e-3, 0.1], dt weights uniform +-rank^-1/2)."""

    def __init__(self, channels: int, routes: int, d_state: int, dt_rank: int):
        super().__init__()
        self.c, self.k, self.n, self.rank = channels, routes, d_state, dt_rank
        bound = channels**-0.5
        self.x_proj = nn.Parameter(
            torch.empty(routes, dt_rank + 2 * d_state, channels).uniform_(-bound, bound)
        )
        self.dt_proj = nn.Parameter(
            torch.empty(routes, channels, dt_rank).uniform_(-(dt_rank**-0.5), dt_rank**-0.5)
        )
        self.dt_bias = nn.Parameter(initial_dt_bias(routes, channels))
        self.A_log = nn.Parameter(initial_A_log(routes * channels, d_state))
        self.D = nn.Parameter(torch.ones(routes * channels))

    def forward(self, x: torch.Tensor, routes: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        seq = cross_scan(x, routes)  # (b, K, c, l)
        proj = torch.einsum("bkcl,kpc->bkpl", seq, self.x_proj)
        dt, B, C = proj.split([self.rank, self.n, self.n], dim=2)
        dt = torch.einsum("bkrl,kcr->bkcl", dt, self.dt_proj)
        y = selective_scan(seq.flatten(1, 2), dt.flatten(1, 2), -torch.exp(self.A_log), B, C, self.D,
                           delta_bias=self.dt_bias.flatten(), delta_softplus=True)  # fmt: skip
        return cross_merge(y.view(b, self.k, c, h * w), routes)


def route_gate(y: torch.Tensor, t: float) -> torch.Tensor:
    """MHS-VM's route attention (its Gated Fusion Unit) over the route axis 1 of y (b, K, c, l): the sum of the
    routes times ReLU(cv - t), cv the routes' standard deviation (unbiased) over their mean excess above their
    minimum. Parameter-free; sqrt(var + 1e-12) where the code has std, whose gradient is 0/0 at equal routes."""
    std = torch.sqrt(y.var(1, unbiased=True) + 1e-12)
    excess = (y - y.min(1, keepdim=True).values).mean(1)
    return y.sum(1) * F.relu(std / (excess + 1e-5) - t)


class _GatedInput(nn.Module):
    """in_proj to (x, z) of ``inner`` channels each, then x through a depthwise 3x3 conv and SiLU: (b, inner, h, w)."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.in_proj = nn.Linear(dim, 2 * inner, bias=False)
        self.conv = nn.Conv2d(inner, inner, 3, padding=1, groups=inner)

    def forward(self, tokens):  # (b, h, w, d)
        x, z = self.in_proj(tokens).chunk(2, dim=-1)
        return F.silu(self.conv(x.permute(0, 3, 1, 2))), z


class SS2D(nn.Module):
    """VMamba's 2-D selective scan (VM-UNet's mixer): expand 2, four raster routes, plain sum."""

    def __init__(self, dim: int, d_state: int = 16, expand: int = 2):
        super().__init__()
        inner = expand * dim
        self.input = _GatedInput(dim, inner)
        self.scan = RouteS6(inner, 4, d_state, math.ceil(dim / 16))
        self.out_norm = nn.LayerNorm(inner)
        self.out_proj = nn.Linear(inner, dim, bias=False)

    def forward(self, tokens):
        b, h, w, _ = tokens.shape
        x, z = self.input(tokens)
        routes = pattern_routes("Z", h, w).to(x.device)  # the row and column rasters and their reverses
        y = self.scan(x, routes).sum(1).transpose(1, 2).reshape(b, h, w, -1)
        return self.out_proj(self.out_norm(y) * F.silu(z))


class MHSMixer(nn.Module):
    """MHS-VM's mixer: k heads in parallel subspaces of s = dim / k channels, head i scanning with pattern
    ``"CXSZ"[i]``; ``fusion`` "route_attention" (``route_gate`` with threshold t) or "sum"."""

    def __init__(
        self, dim: int, heads: int = 4, d_state: int = 16, fusion: str = "route_attention", t: float = 0.5
    ):
        super().__init__()
        if heads not in (3, 4) or dim % heads:
            raise ValueError(f"heads must be 3 or 4 and divide dim={dim}, got {heads}")
        if fusion not in ("route_attention", "sum"):
            raise ValueError(f"fusion must be route_attention or sum, got {fusion!r}")
        self.heads, self.width, self.fusion, self.t = heads, dim // heads, fusion, float(t)
        self.input = _GatedInput(dim, dim)
        self.subspaces = nn.Linear(dim, heads * self.width, bias=False)
        self.scans = nn.ModuleList(
            RouteS6(self.width, 4, d_state, math.ceil(self.width / 16)) for _ in range(heads)
        )
        self.cat_norm = nn.LayerNorm(heads * self.width)
        self.y_proj = nn.Linear(heads * self.width, dim, bias=False)
        self.out_norm = nn.LayerNorm(dim)

    def forward(self, tokens):
        b, h, w, _ = tokens.shape
        x, z = self.input(tokens)
        parts = self.subspaces(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).split(self.width, dim=1)
        fused = []
        for pattern, part, scan in zip("CXSZ", parts, self.scans, strict=False):
            y = scan(part, pattern_routes(pattern, h, w).to(x.device))  # (b, 4, s, l)
            fused.append(route_gate(y, self.t) if self.fusion == "route_attention" else y.sum(1))
        y = torch.cat(fused, 1).transpose(1, 2).reshape(b, h, w, -1)
        return self.out_norm(self.y_proj(self.cat_norm(y))) * F.silu(z)


def make_mixer(kind: str, dim: int, d_state: int, heads: int = 4, t: float = 0.5) -> nn.Module:
    """``ss2d`` | ``ss2d_expand1`` (SS2D at VMamba's width, a parameter-matched control) | ``mhs`` (route attention)
    | ``mhs_sum`` (MHS with the routes summed)."""
    if kind in ("ss2d", "ss2d_expand1"):
        return SS2D(dim, d_state, expand=2 if kind == "ss2d" else 1)
    if kind in ("mhs", "mhs_sum"):
        return MHSMixer(dim, heads, d_state, "route_attention" if kind == "mhs" else "sum", t)
    raise ValueError(f"unknown mixer {kind!r}: ss2d, ss2d_expand1, mhs or mhs_sum")


class VSSBlock(nn.Module):
    """x + mixer(LayerNorm(x)) on (b, h, w, d) tokens (VM-UNet's block: no MLP)."""

    def __init__(self, mixer: nn.Module, dim: int):
        super().__init__()
        self.norm, self.mixer = nn.LayerNorm(dim), mixer

    def forward(self, x):
        return x + self.mixer(self.norm(x))


class PatchMerging(nn.Module):
    """2x2 neighbours concatenated, LayerNorm(4d), Linear 4d -> 2d: (b, h, w, d) -> (b, h/2, w/2, 2d)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm, self.reduction = nn.LayerNorm(4 * dim), nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class PatchExpand(nn.Module):
    """Linear d -> f^2 d / r, pixel shuffle by f, LayerNorm: (b, h, w, d) -> (b, f h, f w, d / r)."""

    def __init__(self, dim: int, factor: int = 2, reduce: int = 2):
        super().__init__()
        self.f, self.out = factor, dim // reduce
        self.expand = nn.Linear(dim, factor * factor * self.out, bias=False)
        self.norm = nn.LayerNorm(self.out)

    def forward(self, x):
        b, h, w, _ = x.shape
        x = self.expand(x).view(b, h, w, self.f, self.f, self.out).permute(0, 1, 3, 2, 4, 5)
        return self.norm(x.reshape(b, h * self.f, w * self.f, self.out))


class VMUNet(nn.Module):
    """(b, in_channels, H, W) -> (b, 1, H, W) logits; H, W divisible by 4 * 2^(stages - 1)."""

    def __init__(self, mixer: str, in_channels: int = 1, dims=(32, 64), depths=(1, 1), decoder_depths=(1, 1),
                 d_state: int = 8, heads: int = 4, t: float = 0.5):  # fmt: skip
        super().__init__()
        dims, stages = list(dims), len(dims)
        self.embed = nn.Conv2d(in_channels, dims[0], 4, stride=4)
        self.embed_norm = nn.LayerNorm(dims[0])

        def stage(dim, depth):
            return nn.Sequential(
                *(VSSBlock(make_mixer(mixer, dim, d_state, heads, t), dim) for _ in range(depth))
            )

        self.encoder = nn.ModuleList(stage(d, n) for d, n in zip(dims, depths, strict=True))
        self.merges = nn.ModuleList(PatchMerging(d) for d in dims[:-1])
        up = dims[::-1]
        self.expands = nn.ModuleList(PatchExpand(d) for d in up[:-1])
        self.decoder = nn.ModuleList(stage(d, n) for d, n in zip(up, decoder_depths, strict=True))
        self.final = PatchExpand(dims[0], factor=4, reduce=4)
        self.head = nn.Conv2d(dims[0] // 4, 1, 1)
        if stages != len(decoder_depths):
            raise ValueError("decoder_depths needs one depth per stage")

    def forward(self, x):
        x = self.embed_norm(self.embed(x).permute(0, 2, 3, 1))
        skips = []
        for i, blocks in enumerate(self.encoder):
            skips.append(x)
            x = blocks(x)
            if i < len(self.merges):
                x = self.merges[i](x)
        for j, blocks in enumerate(self.decoder):
            if j:
                x = self.expands[j - 1](x + skips[-j])
            x = blocks(x)
        return self.head(self.final(x).permute(0, 3, 1, 2))


def count_mixer_parameters(net: nn.Module) -> int:
    """Parameters of the token mixers alone (what MHS-VM changes in VM-UNet)."""
    return sum(p.numel() for m in net.modules() if isinstance(m, VSSBlock) for p in m.mixer.parameters())
