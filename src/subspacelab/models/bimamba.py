"""Mamba's 1-D block, one-way or bidirectional (Vision Mamba's "v2" BiMamba, which MLFSR runs on every light-field
subspace; docs/research/mlfsr.md section 3), on the pure-PyTorch ``selective_scan``.

``CausalS6``: a causal depthwise conv1d, SiLU, and the selective scan whose steps, B and C come from the input
(x_proj -> dt rank + 2 d_state; dt_proj with bias; softplus), Mamba's initialisation. Its parameter names are
``mambapy``'s ``MambaBlock``'s (conv1d, x_proj, dt_proj, A_log, D).

``BiMamba``: in_proj D -> 2 E splits x and a gate z; the forward ``CausalS6`` reads x left to right and, when
bidirectional, a second one with its own parameters reads it right to left; the two outputs (the second flipped
back) are summed, gated by SiLU(z) and projected back by out_proj E -> D. in_proj and out_proj are shared by the
directions, and the outputs are summed, not averaged, as in MLFSR's code. One-way, it is mambapy's ``MambaBlock``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from subspacelab.models.selective_scan import initial_A_log, initial_dt_bias, selective_scan


class CausalS6(nn.Module):
    def __init__(self, d_inner: int, d_state: int, dt_rank: int, d_conv: int = 4):
        super().__init__()
        self.rank, self.n = dt_rank, d_state
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner)
        nn.init.uniform_(self.dt_proj.weight, -(dt_rank**-0.5), dt_rank**-0.5)
        with torch.no_grad():
            self.dt_proj.bias.copy_(initial_dt_bias(d_inner))
        self.A_log = nn.Parameter(initial_A_log(d_inner, d_state))
        self.D = nn.Parameter(torch.ones(d_inner))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, l, E) -> (b, l, E), causal: step t reads steps <= t."""
        length = x.shape[1]
        u = F.silu(self.conv1d(x.transpose(1, 2))[..., :length])  # (b, E, l)
        dt, B, C = self.x_proj(u.transpose(1, 2)).split([self.rank, self.n, self.n], dim=-1)
        delta = (dt @ self.dt_proj.weight.T).transpose(1, 2)  # (b, E, l); the bias enters as delta_bias
        y = selective_scan(u, delta, -torch.exp(self.A_log), B.transpose(1, 2), C.transpose(1, 2), self.D,
                           delta_bias=self.dt_proj.bias, delta_softplus=True)  # fmt: skip
        return y.transpose(1, 2)


class BiMamba(nn.Module):
    """(b, l, d_model) -> (b, l, d_model): module doc."""

    def __init__(
        self, d_model: int, d_state: int = 16, expand: int = 2, d_conv: int = 4, bidirectional: bool = True
    ):
        super().__init__()
        inner, rank = expand * d_model, math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)
        self.forward_s6 = CausalS6(inner, d_state, rank, d_conv)
        self.backward_s6 = CausalS6(inner, d_state, rank, d_conv) if bidirectional else None
        self.out_proj = nn.Linear(inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(x).chunk(2, dim=-1)
        y = self.forward_s6(x)
        if self.backward_s6 is not None:
            y = y + self.backward_s6(x.flip(1)).flip(1)
        return self.out_proj(y * F.silu(z))
