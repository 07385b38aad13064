"""Training objectives of diffusion models (``lit.diffusion`` trains any denoiser on them through Lightning).

A denoiser is any callable D(x_t, s, γ) -> x̂_0 (an estimate of E[x_0 | x_t]); s and γ are scalars or
(B,) tensors. Forward process x_t = s x_0 + γ ε with the noise level drawn by a ``NoiseLevels``:
- ``uniform_t``: t ~ U[t_min, t_max] on a schedule (s_t, γ_t), weight λ = 1 (Song et al. 2021);
- ``edm``: s = 1, γ = σ with ln σ ~ N(P_mean, P_std²), weight λ(σ) = (σ² + σ_d²) / (σ σ_d)² (Karras et
  al. 2022; the loss of the official MoLRG code, huijieZH/Diffusion-Model-Generalizability, which trains
  every network on MoLRG with EDMLoss). Denoisers that depend on (x_t/s, γ/s) only, as all of ours do, see
  the same problem under every schedule.

- Denoising loss (the paper's objective):  E_σ λ(σ) E_{x_0} E_ε ||D(x_t) − x_0||².
- Denoising score matching:                E ||ŝ(x_t) + ε / γ||², with the denoiser's score
  ŝ(x) = (s D(x) − x) / γ². Per sample the two agree up to a weight:
  ŝ + ε/γ = (s D − s x_0 − γε + γε)/γ² = s (D − x_0)/γ²,
  so ||ŝ + ε/γ||² = (s²/γ⁴) ||D − x_0||².
- Score MSE against a known score (evaluation): Σ ||ŝ(x_t) − ∇log p_t(x_t)||² / Σ ||∇log p_t(x_t)||².
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from subspacelab.diffusion.schedules import Schedule

Denoiser = Callable[[Tensor, Tensor, Tensor], Tensor]
NOISE_DISTS = ("uniform_t", "edm")


def _col(v, x: Tensor) -> Tensor:
    v = torch.as_tensor(v, dtype=x.dtype, device=x.device)
    return v if v.ndim == 0 else v.reshape(-1, 1)


def score_from_denoiser(denoiser: Denoiser) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """ŝ(x) = (s D(x) − x) / γ² (Tweedie's formula read backwards)."""

    def score(x, s, gamma):
        return (_col(s, x) * denoiser(x, s, gamma) - x) / _col(gamma, x) ** 2

    return score


def denoiser_from_score(score: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Denoiser:
    """D(x) = (x + γ² ŝ(x)) / s (Tweedie's formula)."""

    def denoiser(x, s, gamma):
        return (x + _col(gamma, x) ** 2 * score(x, s, gamma)) / _col(s, x)

    return denoiser


@dataclass
class NoiseLevels:
    """Distribution of the noise level of a training example and the loss weight λ (see module doc)."""

    dist: str = "edm"
    schedule: Schedule | None = None  # uniform_t only
    t_min: float = 0.01
    t_max: float = 1.0
    p_mean: float = -1.2  # edm only
    p_std: float = 1.2
    sigma_data: float = 0.5

    def __post_init__(self):
        if self.dist not in NOISE_DISTS:
            raise ValueError(f"noise distribution: one of {NOISE_DISTS}, got {self.dist!r}")
        if self.dist == "uniform_t" and (self.schedule is None or not 0 < self.t_min < self.t_max):
            raise ValueError("uniform_t needs a schedule and 0 < t_min < t_max")
        if self.p_std <= 0 or self.sigma_data <= 0:
            raise ValueError("p_std and sigma_data must be > 0")

    def draw(self, B: int, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """s, γ, λ, each (B,) float64."""
        if self.dist == "uniform_t":
            t = self.t_min + (self.t_max - self.t_min) * torch.rand(B, generator=gen, dtype=torch.float64)
            return self.schedule.s(t), self.schedule.gamma(t), torch.ones(B, dtype=torch.float64)
        sigma = torch.exp(self.p_mean + self.p_std * torch.randn(B, generator=gen, dtype=torch.float64))
        sd2 = self.sigma_data**2
        return torch.ones(B, dtype=torch.float64), sigma, (sigma**2 + sd2) / (sigma**2 * sd2)


@dataclass
class NoisyBatch:
    x0: Tensor
    xt: Tensor
    s: Tensor
    gamma: Tensor
    weight: Tensor
    eps: Tensor


def noisy_batch(x0: Tensor, levels: NoiseLevels, gen: torch.Generator) -> NoisyBatch:
    """x_t = s x_0 + γ ε, one noise level and one ε per row of x0."""
    s, g, w = (v.to(x0.dtype) for v in levels.draw(x0.shape[0], gen))
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64).to(x0.dtype)
    return NoisyBatch(x0, s[:, None] * x0 + g[:, None] * eps, s, g, w, eps)


def denoising_loss(denoiser: Denoiser, b: NoisyBatch, weighted: bool = True) -> Tensor:
    """mean over the batch of λ ||D(x_t) − x_0||². A denoiser returning (R, B, n) (R independent replicas)
    gets the sum over replicas of their losses."""
    per = ((denoiser(b.xt, b.s, b.gamma) - b.x0) ** 2).sum(-1)
    return ((b.weight * per) if weighted else per).mean(-1).sum()


def dsm_loss(score: Callable[[Tensor, Tensor, Tensor], Tensor], b: NoisyBatch) -> Tensor:
    """mean over the batch of ||ŝ(x_t) + ε / γ||² (unweighted)."""
    return ((score(b.xt, b.s, b.gamma) + b.eps / b.gamma[:, None]) ** 2).sum(-1).mean()


@torch.no_grad()
def replica_losses(
    denoiser: Denoiser, x0: Tensor, levels: NoiseLevels, seed: int, draws: int = 4096
) -> Tensor:
    """Each replica's (weighted) denoising loss on one fixed set of ``draws`` noisy copies of the training
    set (common random numbers: replicas are compared on the same noise). (R,) or 0-d."""
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.arange(draws) % x0.shape[0]
    b = noisy_batch(x0[idx], levels, gen)
    per = ((denoiser(b.xt, b.s, b.gamma) - b.x0) ** 2).sum(-1)
    return (b.weight * per).mean(-1)


def score_mse(score: Callable, true_score: Callable, x: Tensor, s, gamma) -> float:
    """Relative score error Σ||ŝ − ∇log p||² / Σ||∇log p||² on the points x."""
    with torch.no_grad():
        a, b = score(x, s, gamma), true_score(x, s, gamma)
        return float(((a - b) ** 2).sum() / (b**2).sum().clamp_min(1e-300))
