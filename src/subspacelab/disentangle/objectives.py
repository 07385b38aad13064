"""The training objectives on one batch, given the encoder's (μ, log σ²), the sample z = μ + σ·ε and the decoder's
logits.

- ``supervised_infonce``: the XFactors code's supervised contrastive loss on one latent block
  (``loss/loss.py`` ``InfoNCESupervised``): rows L2-normalised, similarities / τ clipped to ±100, the diagonal
  masked; the positives of an anchor are every other row with its factor value; per anchor
  −[logsumexp over its positives − logsumexp over every other row], averaged over the anchors that have a
  positive (0 when none has). Under DDP the rows of every rank are gathered with a gradient, so each rank
  scores the global batch and DDP's averaged gradient is the one-process gradient.
- ``XFactors``: mean-pixel MSE of sigmoid(logits) + w·β_S·KL_S + w·β_T·KL_T + Σ_i λ·InfoNCE(z_{T_i}, y_i) with the
  code's w = 1e-6 (dSprites), λ = 0.1 / K and τ = 0.03; KL terms are batch means of the sum over dimensions.
  ``nce_weight=0`` is the code's ``loss_type=vae`` ablation.
- ``BetaVAE``: the standard β-VAE (Higgins et al. 2017) with a Bernoulli decoder: summed-pixel binary cross-entropy
  + β·KL, batch means (β = 1: the VAE).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from subspacelab.selfsup.objectives import gather_rows


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """Batch mean of KL(N(μ, σ²) ‖ N(0, I)) summed over dimensions."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(-1).mean()


def supervised_infonce(z: Tensor, labels: Tensor, temperature: float = 0.03, gather: bool = False) -> Tensor:
    if gather:
        z, labels = gather_rows(z), gather_rows(labels)
    u = F.normalize(z, dim=-1)
    sim = (u @ u.T / temperature).clamp(-100, 100)
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    positive = (labels[:, None] == labels[None, :]) & ~eye
    has = positive.any(1)
    if not has.any():
        return z.sum() * 0.0
    pos = torch.logsumexp(sim.masked_fill(~positive, float("-inf")), dim=1)
    return -(pos - torch.logsumexp(sim, dim=1))[has].mean()


@dataclass
class XFactors:
    dim_s: int = 8  # free block S (the code's runs: 126, 8, 2)
    factor_dims: int = 2  # [code] dims per supervised factor block
    factors: int = 5  # K supervised factors, in the label columns' order
    beta_s: float = 100.0
    beta_t: float = 1.0
    kl_weight: float = 1.0e-6  # [code] dSprites
    nce_weight: float | None = None  # λ per factor; None: the code's 0.1 / K
    temperature: float = 0.03  # [code] train_x.py

    def groups(self) -> list[int]:
        return [self.dim_s, self.factor_dims * self.factors]

    def __call__(self, x, labels, logits, mu, logvar, z, gather: bool = False):
        s = self.dim_s
        mse = F.mse_loss(torch.sigmoid(logits), x)
        kl_s = kl_to_standard_normal(mu[:, :s], logvar[:, :s])
        kl_t = kl_to_standard_normal(mu[:, s:], logvar[:, s:])
        loss = mse + self.kl_weight * (self.beta_s * kl_s + self.beta_t * kl_t)
        lam = 0.1 / self.factors if self.nce_weight is None else self.nce_weight
        nce = z.new_zeros(())
        if lam:
            for i in range(self.factors):
                block = z[:, s + i * self.factor_dims : s + (i + 1) * self.factor_dims]
                nce = nce + supervised_infonce(block, labels[:, i], self.temperature, gather)
            loss = loss + lam * nce
        return loss, {"mse": mse.detach(), "kl_s": kl_s.detach(), "kl_t": kl_t.detach(), "nce": nce.detach()}


@dataclass
class BetaVAE:
    latent: int = 18
    beta: float = 4.0

    def groups(self) -> list[int]:
        return [self.latent]

    def __call__(self, x, labels, logits, mu, logvar, z, gather: bool = False):
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = kl_to_standard_normal(mu, logvar)
        return bce + self.beta * kl, {"bce": bce.detach(), "kl": kl.detach()}
