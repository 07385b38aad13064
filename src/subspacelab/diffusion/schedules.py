"""Noise schedules of the forward process x_t = s_t x_0 + γ_t ε, ε ~ N(0, I), t in [0, 1].

Every schedule gives s_t, γ_t, their time derivatives, the noise-to-signal ratio σ_t = γ_t / s_t and its
inverse t(σ). In σ-space every schedule is the same process: x_t / s_t = x_0 + σ_t ε.

- VP (variance preserving; Song et al. 2021's continuous DDPM): β(t) = β_min + t (β_max − β_min),
  B(t) = ∫_0^t β = β_min t + (β_max − β_min) t² / 2, s_t = exp(−B/2), γ_t = sqrt(1 − s_t²)
  (so s_t² + γ_t² = 1), σ_t = sqrt(e^B − 1).
- VE (variance exploding; SMLD): s_t = 1, γ_t = σ_t = σ_min (σ_max / σ_min)^t.

Drift and diffusion of the equivalent SDE dx = f x dt + g dW: f = s'/s, g² = d(γ²)/dt − 2 f γ²
(= 2 s² σ σ').
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def _t(t) -> Tensor:
    return torch.as_tensor(t, dtype=torch.float64)


class Schedule:
    """s_t, γ_t and derivatives as float64 tensors of the shape of t."""

    name = "schedule"

    def s(self, t) -> Tensor:
        raise NotImplementedError

    def gamma(self, t) -> Tensor:
        raise NotImplementedError

    def ds(self, t) -> Tensor:
        raise NotImplementedError

    def sigma(self, t) -> Tensor:
        """σ_t = γ_t / s_t."""
        raise NotImplementedError

    def dsigma(self, t) -> Tensor:
        raise NotImplementedError

    def t_of_sigma(self, sigma) -> Tensor:
        raise NotImplementedError

    def f(self, t) -> Tensor:
        """Drift coefficient s'/s."""
        return self.ds(t) / self.s(t)

    def g2(self, t) -> Tensor:
        """Squared diffusion coefficient 2 s² σ σ'."""
        return 2 * self.s(t) ** 2 * self.sigma(t) * self.dsigma(t)


@dataclass
class VPSchedule(Schedule):
    beta_min: float = 0.1
    beta_max: float = 20.0
    name = "vp"

    def __post_init__(self):
        if not 0 <= self.beta_min <= self.beta_max or self.beta_max <= 0:
            raise ValueError(
                f"VP schedule: need 0 <= beta_min <= beta_max, beta_max > 0; got "
                f"{self.beta_min}, {self.beta_max}"
            )

    def B(self, t) -> Tensor:
        t = _t(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def beta(self, t) -> Tensor:
        return self.beta_min + _t(t) * (self.beta_max - self.beta_min)

    def s(self, t) -> Tensor:
        return torch.exp(-0.5 * self.B(t))

    def gamma(self, t) -> Tensor:
        return torch.sqrt(-torch.expm1(-self.B(t)))

    def ds(self, t) -> Tensor:
        return -0.5 * self.beta(t) * self.s(t)

    def sigma(self, t) -> Tensor:
        return torch.sqrt(torch.expm1(self.B(t)))

    def dsigma(self, t) -> Tensor:
        B = self.B(t)
        return self.beta(t) * torch.exp(B) / (2 * torch.sqrt(torch.expm1(B)))

    def t_of_sigma(self, sigma) -> Tensor:
        B = torch.log1p(_t(sigma) ** 2)
        a, b = 0.5 * (self.beta_max - self.beta_min), self.beta_min
        if a == 0:
            return B / b
        return (-b + torch.sqrt(b * b + 4 * a * B)) / (2 * a)


@dataclass
class VESchedule(Schedule):
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    name = "ve"

    def __post_init__(self):
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"VE schedule: need 0 < sigma_min < sigma_max; got {self.sigma_min}, {self.sigma_max}"
            )

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def s(self, t) -> Tensor:
        return torch.ones_like(_t(t))

    def ds(self, t) -> Tensor:
        return torch.zeros_like(_t(t))

    def sigma(self, t) -> Tensor:
        return self.sigma_min * torch.exp(_t(t) * self._log_ratio)

    def gamma(self, t) -> Tensor:
        return self.sigma(t)

    def dsigma(self, t) -> Tensor:
        return self.sigma(t) * self._log_ratio

    def t_of_sigma(self, sigma) -> Tensor:
        return torch.log(_t(sigma) / self.sigma_min) / self._log_ratio


SCHEDULES = {"vp": VPSchedule, "ve": VESchedule}


def make_schedule(name: str, **kw) -> Schedule:
    if name not in SCHEDULES:
        raise ValueError(f"schedule: one of {sorted(SCHEDULES)}, got {name!r}")
    return SCHEDULES[name](**kw)
