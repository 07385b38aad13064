"""Samplers for any denoiser D(x_t, s, γ) ≈ E[x_0 | x_t] (or any score, via ``losses.denoiser_from_score``).

- DDPM ancestral (reverse of the discretised forward chain). Between times r < t the forward kernel is
  x_t = a x_r + sqrt(v) ε with a = s_t/s_r, v = γ_t² − a² γ_r²; the Gaussian posterior q(x_r | x_t, x_0) has
      mean  (a γ_r² / γ_t²) x_t + (s_r v / γ_t²) x_0,     variance  v γ_r² / γ_t²,
  and the sampler plugs in x_0 = D(x_t). The last step returns D(x_{t_min}).
- Probability-flow ODE dx/dt = f x − ½ g² ∇log p_t(x) = (s'/s) x + (σ'/σ)(x − s D(x)) (σ = γ/s), integrated
  with Heun's method on EDM's time grid σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} −
  σ_max^{1/ρ}))^ρ mapped back to t; it returns D(x_{t_min}).
Both start from x_{t_max} ~ N(0, (s² v_data + γ²) I) (v_data: the data's per-coordinate variance).
"""

from __future__ import annotations

import torch
from torch import Tensor

from subspacelab.diffusion.losses import Denoiser
from subspacelab.diffusion.schedules import Schedule


def _check(schedule: Schedule, steps: int, t_min: float, t_max: float) -> None:
    if steps < 1 or not 0 <= t_min < t_max:
        raise ValueError(f"sampler: need steps >= 1 and 0 <= t_min < t_max, got {steps}, {t_min}, {t_max}")
    if float(schedule.gamma(t_min)) <= 0:
        raise ValueError(
            f"sampler: the noise level at t_min={t_min} must be > 0 (the denoiser is undefined at γ=0)"
        )


def initial_noise(
    shape: tuple[int, int],
    schedule: Schedule,
    t_max: float,
    gen: torch.Generator,
    data_var: float = 0.0,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    s, g = float(schedule.s(t_max)), float(schedule.gamma(t_max))
    std = (s * s * data_var + g * g) ** 0.5
    return std * torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)


@torch.no_grad()
def ddpm_sample(
    denoiser: Denoiser,
    schedule: Schedule,
    x: Tensor,
    gen: torch.Generator,
    steps: int = 200,
    t_min: float = 0.01,
    t_max: float = 1.0,
) -> Tensor:
    """Ancestral sampling from x = x_{t_max} along ``steps`` equal steps in t down to t_min, then D."""
    _check(schedule, steps, t_min, t_max)
    ts = torch.linspace(t_max, t_min, steps + 1, dtype=torch.float64)
    B = x.shape[0]
    for t, r in zip(ts[:-1], ts[1:], strict=True):
        s_t, g_t, s_r, g_r = schedule.s(t), schedule.gamma(t), schedule.s(r), schedule.gamma(r)
        a = s_t / s_r
        v = (g_t**2 - a**2 * g_r**2).clamp_min(0.0)
        x0 = denoiser(x, s_t.expand(B), g_t.expand(B)).to(x.dtype)
        mean = (a * g_r**2 / g_t**2) * x + (s_r * v / g_t**2) * x0
        std = torch.sqrt(v * g_r**2 / g_t**2)
        x = mean + float(std) * torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.dtype)
    return denoiser(x, schedule.s(ts[-1]).expand(B), schedule.gamma(ts[-1]).expand(B)).to(x.dtype)


def edm_time_grid(schedule: Schedule, steps: int, t_min: float, t_max: float, rho: float = 7.0) -> Tensor:
    """steps + 1 times from t_max to t_min, equally spaced in σ^{1/ρ}."""
    smax, smin = float(schedule.sigma(t_max)), float(schedule.sigma(t_min))
    i = torch.arange(steps + 1, dtype=torch.float64) / steps
    sig = (smax ** (1 / rho) + i * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    ts = schedule.t_of_sigma(sig)
    ts[0], ts[-1] = t_max, t_min
    return ts


def _ode_drift(denoiser: Denoiser, schedule: Schedule, x: Tensor, t: Tensor) -> Tensor:
    B = x.shape[0]
    s, g = schedule.s(t), schedule.gamma(t)
    D = denoiser(x, s.expand(B), g.expand(B)).to(x.dtype)
    f = schedule.ds(t) / s
    dlog_sigma = schedule.dsigma(t) / schedule.sigma(t)
    return f.to(x.dtype) * x + dlog_sigma.to(x.dtype) * (x - s.to(x.dtype) * D)


@torch.no_grad()
def pf_ode_sample(
    denoiser: Denoiser,
    schedule: Schedule,
    x: Tensor,
    steps: int = 40,
    t_min: float = 0.01,
    t_max: float = 1.0,
    rho: float = 7.0,
    heun: bool = True,
) -> Tensor:
    """Deterministic sampling: integrate the probability-flow ODE from x = x_{t_max} to t_min, then D."""
    _check(schedule, steps, t_min, t_max)
    ts = edm_time_grid(schedule, steps, t_min, t_max, rho)
    for t, r in zip(ts[:-1], ts[1:], strict=True):
        h = (r - t).to(x.dtype)
        d = _ode_drift(denoiser, schedule, x, t)
        x_next = x + h * d
        if heun:
            x_next = x + 0.5 * h * (d + _ode_drift(denoiser, schedule, x_next, r))
        x = x_next
    B = x.shape[0]
    return denoiser(x, schedule.s(ts[-1]).expand(B), schedule.gamma(ts[-1]).expand(B)).to(x.dtype)


SAMPLERS = {"ddpm": ddpm_sample, "ode": pf_ode_sample}


def sample(
    kind: str,
    denoiser: Denoiser,
    schedule: Schedule,
    m: int,
    ambient: int,
    seed: int,
    steps: int,
    t_min: float = 0.01,
    t_max: float = 1.0,
    data_var: float = 0.0,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """m samples from ``kind`` in {"ddpm", "ode"} starting from seeded noise."""
    if kind not in SAMPLERS:
        raise ValueError(f"sampler: one of {sorted(SAMPLERS)}, got {kind!r}")
    gen = torch.Generator().manual_seed(int(seed))
    x = initial_noise((m, ambient), schedule, t_max, gen, data_var, dtype)
    if kind == "ddpm":
        return ddpm_sample(denoiser, schedule, x, gen, steps, t_min, t_max)
    return pf_ode_sample(denoiser, schedule, x, steps, t_min, t_max)
