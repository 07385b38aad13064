"""The selective scan of Mamba (S6) in plain PyTorch, with the argument layout of ``mamba_ssm``'s
``selective_scan_fn`` so that the CUDA kernel can stand in where it is installed.

For every channel c, state n and step t (the sequence read left to right, causal):

    delta_t = softplus(delta_t + delta_bias)                      (when delta_softplus)
    h_t     = exp(delta_t * A[c, n]) * h_{t-1} + delta_t * B_t[n] * u_t[c]          h_0 = 0
    y_t[c]  = sum_n C_t[n] h_t[c, n] + D[c] u_t[c]

B and C are shared by the channels of a group: shape (b, n, l) for one group, (b, g, n, l) for g groups of
d / g consecutive channels (VMamba runs its K scan routes as K groups of one call). The recurrence runs as
``mambapy``'s parallel (Blelloch) scan; ``selective_scan_reference`` is the same recurrence as a loop over t,
the oracle of the tests.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def _grouped(M: torch.Tensor, d: int) -> torch.Tensor:
    """(b, n, l) or (b, g, n, l) -> (b, l, g, n), checking that the g groups split the d channels."""
    M = M[:, None] if M.dim() == 3 else M
    if d % M.shape[1]:
        raise ValueError(f"{d} channels do not split into {M.shape[1]} groups")
    return M.permute(0, 3, 1, 2)


def _discretise(u, delta, A, B, delta_bias, delta_softplus):
    """(exp(delta A), delta B u), both (b, l, d, n): the recurrence's decay and drive."""
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    b, d, length = u.shape
    B = _grouped(B, d)  # (b, l, g, n)
    decay = torch.exp(delta.transpose(1, 2)[..., None] * A)  # (b, l, d, n)
    du = (delta * u).transpose(1, 2).reshape(b, length, B.shape[2], -1)  # (b, l, g, d / g)
    drive = torch.einsum("blgc,blgn->blgcn", du, B).reshape(b, length, d, -1)
    return decay, drive


def _readout(states, u, C, D):
    b, d, length = u.shape
    C = _grouped(C, d)  # (b, l, g, n)
    states = states.reshape(b, length, C.shape[2], -1, states.shape[-1])  # (b, l, g, d / g, n)
    y = torch.einsum("blgcn,blgn->bgcl", states, C).reshape(b, d, length)
    return y if D is None else y + D[:, None] * u


def initial_dt_bias(
    *shape: int, dt_min: float = 1e-3, dt_max: float = 0.1, floor: float = 1e-4
) -> torch.Tensor:
    """Mamba's initial step bias: the inverse softplus of steps drawn log-uniformly in [dt_min, dt_max] (at least
    ``floor``), so that softplus(bias) starts at those steps."""
    dt = torch.exp(torch.rand(*shape) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(
        min=floor
    )
    return dt + torch.log(-torch.expm1(-dt))


def initial_A_log(channels: int, d_state: int) -> torch.Tensor:
    """Mamba's S4D-real initialisation: A = -[1, ..., d_state] for every channel, stored as log(-A)."""
    return torch.log(torch.arange(1, d_state + 1.0)).repeat(channels, 1)


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
) -> torch.Tensor:
    """y (b, d, l) of the module doc. u, delta: (b, d, l); A: (d, n); B, C: (b, n, l) or (b, g, n, l);
    D, delta_bias: (d,). Differentiable in every argument (mambapy's scan has its own backward)."""
    from mambapy.pscan import pscan

    decay, drive = _discretise(u, delta, A, B, delta_bias, delta_softplus)
    return _readout(pscan(decay, drive), u, C, D)


def selective_scan_reference(
    u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False
) -> torch.Tensor:
    """The same y, the recurrence stepped one t at a time (slow; the tests' oracle)."""
    decay, drive = _discretise(u, delta, A, B, delta_bias, delta_softplus)
    h = torch.zeros_like(drive[:, 0])
    states = []
    for t in range(drive.shape[1]):
        h = decay[:, t] * h + drive[:, t]
        states.append(h)
    return _readout(torch.stack(states, 1), u, C, D)
