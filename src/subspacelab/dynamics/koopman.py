"""Koopman autoencoders and the information terms of Cheng et al., "Information Shapes Koopman Representation"
(ICLR 2026), as in the authors' code (model/physical_simulation/base.py).

Latents are row vectors and the operator acts on the right: ẑ_{t+1} = z_t K.

- ``ridge_koopman``: per sequence, K_b = argmin ‖Z_b K − Z'_b‖² + λ‖K‖² = (Z_bᵀZ_b + λI)⁻¹ Z_bᵀ Z'_b, computed in the
  code's dual form Z_bᵀ(Z_bZ_bᵀ + λI_T)⁻¹ Z'_b (T < H); the training loss uses their batch mean, detached.
- ``temporal_info_nce``: per sequence, each anchor time n ∈ [k, T−k) has positives z_{n±1..k} and every other
  time step as a negative, on cosine similarities divided by a temperature (multi-positive InfoNCE).
- ``von_neumann_entropy``: S = −Σ λ log λ of ρ = Σ / tr Σ, Σ the centred covariance of all latents pooled.
- ``koopman_loss``: fwd + λ_id·id + α·MI + β·S; the paper (Algorithm 2: L = L_rec − αI + βL_Koop − γS) maximises
  the entropy, i.e. β < 0 here; the released code's sign is β > 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MLPAutoencoder(nn.Module):
    """obs → hidden → latent encoder and the mirrored decoder (ReLU)."""

    def __init__(self, obs_dim: int, latent_dim: int, hidden: int = 128):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, obs_dim))

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)


def ridge_koopman(Z: Tensor, Z_next: Tensor, ridge: float = 0.1) -> Tensor:
    """(B, T, H) latents and their successors -> (B, H, H) per-sequence ridge operators (dual form)."""
    gram = Z @ Z.transpose(1, 2) + ridge * torch.eye(Z.shape[1], dtype=Z.dtype, device=Z.device)
    return Z.transpose(1, 2) @ torch.linalg.solve(gram, Z_next)


def temporal_info_nce(Z: Tensor, k: int = 3, temperature: float = 0.1) -> Tensor:
    """Mean over sequences and anchors of −log(Σ_pos e^s / Σ_{all but the anchor} e^s), s = cos / temperature."""
    B, T, _ = Z.shape
    if T < 2 * k + 1:
        raise ValueError(f"need T >= 2k + 1 time steps for window k={k}, got T={T}")
    z = F.normalize(Z, dim=-1)
    sim = z @ z.transpose(1, 2) / temperature  # (B, T, T)
    anchors = torch.arange(k, T - k, device=Z.device)
    lag = (torch.arange(T, device=Z.device)[None, :] - anchors[:, None]).abs()  # (A, T)
    positive = (lag >= 1) & (lag <= k)
    others = lag >= 1
    s = sim[:, anchors]  # (B, A, T)
    s = s - s.masked_fill(~others, float("-inf")).amax(-1, keepdim=True).detach()
    num = torch.logsumexp(s.masked_fill(~positive, float("-inf")), -1)
    den = torch.logsumexp(s.masked_fill(~others, float("-inf")), -1)
    return (den - num).mean()


def von_neumann_entropy(Z: Tensor, eps: float = 1e-8) -> Tensor:
    """Entropy of the trace-normalised covariance of all latents in Z (any leading shape, last dim H)."""
    z = Z.reshape(-1, Z.shape[-1])
    z = z - z.mean(0, keepdim=True)
    cov = z.T @ z / max(z.shape[0] - 1, 1) + eps * torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
    rho = cov / cov.diagonal().sum().clamp_min(eps)
    lam = torch.linalg.eigvalsh(rho).clamp_min(eps)
    return -(lam * lam.log()).sum()


def effective_rank(Z: Tensor) -> float:
    """exp of the von Neumann entropy: how many latent directions carry the variance."""
    return float(von_neumann_entropy(Z.double()).exp())


@dataclass(frozen=True)
class LossWeights:
    """The Lagrangian's weights [code: cylinder.yaml lamb 0.1, alpha 2.0, beta 0.1; trainer k 3, temperature 0.1]."""

    identity: float = 0.1
    mi: float = 2.0
    entropy: float = 0.0  # > 0: the code's sign (entropy minimised); < 0: the paper's aim (maximised)
    mi_window: int = 3
    temperature: float = 0.1
    ridge: float = 0.1


def koopman_loss(
    model: MLPAutoencoder,
    x: Tensor,
    x_next: Tensor,
    w: LossWeights,
    reduce_operator: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, dict[str, Tensor], Tensor]:
    """(total, parts, K) for windows x, x_next of shape (B, T, obs). K is the batch mean of the per-sequence
    ridge operators, detached; ``reduce_operator`` maps it to the operator used (e.g. the mean over every DDP
    rank's batch)."""
    z, z_next = model.encode(x), model.encode(x_next)
    K = ridge_koopman(z.detach(), z_next.detach(), w.ridge).mean(0)
    if reduce_operator is not None:
        K = reduce_operator(K)
    # per-step MSEs summed over the T steps, as the code does
    fwd = F.mse_loss(model.decode(z @ K), x_next, reduction="none").mean((0, 2)).sum()
    ident = F.mse_loss(model.decode(z), x, reduction="none").mean((0, 2)).sum()
    parts = {"fwd": fwd, "id": ident}
    total = fwd + w.identity * ident
    if w.mi:
        parts["mi"] = temporal_info_nce(z, w.mi_window, w.temperature)
        total = total + w.mi * parts["mi"]
    if w.entropy:
        parts["entropy"] = von_neumann_entropy(z)
        total = total + w.entropy * parts["entropy"]
    return total, parts, K


@torch.no_grad()
def global_operator(
    model: MLPAutoencoder, x: Tensor, x_next: Tensor, ridge: float = 0.1, chunk: int = 512
) -> Tensor:
    """The mean of the per-window ridge operators over every training window (the code saves the epoch's mean)."""
    total, n = None, 0
    for a, b in zip(x.split(chunk), x_next.split(chunk), strict=True):
        K = ridge_koopman(model.encode(a), model.encode(b), ridge).sum(0)
        total = K if total is None else total + K
        n += a.shape[0]
    return total / n


@torch.no_grad()
def pooled_operator(model: MLPAutoencoder, x: Tensor, x_next: Tensor, ridge: float = 0.1) -> Tensor:
    """One ridge operator fitted to every training latent pair at once: argmin ‖Z K − Z'‖² + λ‖K‖² over all
    windows (with N·T ≫ H latents the ridge barely shrinks it, unlike the per-window operators)."""
    Z = model.encode(x).reshape(-1, model.encode(x[:1]).shape[-1])
    Zn = model.encode(x_next).reshape(Z.shape)
    eye = torch.eye(Z.shape[1], dtype=Z.dtype, device=Z.device)
    return torch.linalg.solve(Z.T @ Z + ridge * eye, Z.T @ Zn)


@torch.no_grad()
def rollout_errors(
    model: MLPAutoencoder, K: Tensor, trajectories: Tensor, horizons: list[int]
) -> dict[int, float]:
    """Relative L2 error ‖x̂_h − x_h‖ / ‖x_h‖ of latent rollouts z_0 Kʰ decoded, from the first state of each
    (N, L, obs) test trajectory, averaged over trajectories, at each horizon h < L."""
    z = model.encode(trajectories[:, 0])
    out, step = {}, 0
    for h in sorted(horizons):
        while step < h:
            z = z @ K
            step += 1
        pred, true = model.decode(z), trajectories[:, h]
        out[h] = float(((pred - true).norm(dim=-1) / true.norm(dim=-1).clamp_min(1e-12)).mean())
    return out


def spectrum(K: Tensor, tol: float = 0.02) -> dict:
    """Eigenvalue moduli of K: the largest, and how many lie within ``tol`` of the unit circle."""
    mod = torch.linalg.eigvals(K.double()).abs()
    return {
        "max_modulus": float(mod.max()),
        "near_unit_circle": int(((mod - 1).abs() <= tol).sum()),
        "moduli": sorted((float(m) for m in mod), reverse=True),
    }
