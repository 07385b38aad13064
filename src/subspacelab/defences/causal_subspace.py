"""EigenShield's spectral filter (Darabi et al. 2025), in plain functions: the spiked-covariance view of clean
embeddings, a robustness score for each eigenvector, and the projection onto the "causal" subspace.

1. Centre clean calibration embeddings E (n x d) and scale them by one number (their RMS); eigendecompose their
   covariance [recon: a per-coordinate scaling would make the noise unequal across coordinates, which MP assumes].
2. Marchenko-Pastur: pure noise of variance s2 has no eigenvalue above ``s2 (1 + sqrt(d / n))^2`` (for large n, d);
   the eigenvalues above it are spikes. At finite n the edge is the 99% Tracy-Widom bound of the largest noise
   eigenvalue (Johnstone 2001), and s2 the bulk's variance estimated from the median eigenvalue [recon].
3. Robustness-based nonconformity: each eigenvector's instability under perturbed calibration inputs,
   ``1 - max_i |<v, w_i>|`` averaged over the perturbed spectra's eigenvectors w_i [recon: the paper's formula could
   not be read].
4. Quantile thresholding: a spike is causal when its score is at most the ``level`` quantile of the bulk
   eigenvectors' scores (it is more stable than most noise directions) [recon].
5. Inference: e -> mu + s * V_c V_c^T ((e - mu) / s), a linear map, so an attack can differentiate through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

TW1_99 = 2.0234  # the 99% quantile of the Tracy-Widom law of order 1


def mp_upper_edge(n: int, d: int, noise_variance: float = 1.0) -> float:
    """The upper edge of the Marchenko-Pastur bulk of a d x d sample covariance of n noise vectors."""
    return noise_variance * (1.0 + math.sqrt(d / n)) ** 2


def largest_noise_eigenvalue_bound(n: int, d: int, noise_variance: float = 1.0) -> float:
    """The finite-sample edge: the 99% quantile of the largest eigenvalue of a sample covariance (divisor n - 1) of
    n Gaussian noise vectors in d dimensions, by Johnstone's (2001) Tracy-Widom centring and scaling; it tends to
    ``mp_upper_edge`` as n and d grow."""
    a, b = math.sqrt(n - 1), math.sqrt(d)
    centre, spread = (a + b) ** 2, (a + b) * (1 / a + 1 / b) ** (1 / 3)
    return noise_variance * (centre + TW1_99 * spread) / (n - 1)


def mp_median(ratio: float, points: int = 20001) -> float:
    """The median of the Marchenko-Pastur law of ratio ``d / n`` < 1 and variance 1 (its CDF integrated on a grid)."""
    if not 0 < ratio < 1:
        raise ValueError(f"mp_median: the ratio d / n must be in (0, 1), got {ratio}")
    lo, hi = (1 - math.sqrt(ratio)) ** 2, (1 + math.sqrt(ratio)) ** 2
    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    density = torch.sqrt(((hi - x) * (x - lo)).clamp_min(0)) / (2 * math.pi * ratio * x)
    cdf = torch.cumulative_trapezoid(density, x, dim=0)
    return float(x[1:][torch.searchsorted(cdf / cdf[-1], torch.tensor([0.5], dtype=torch.float64))][0])


def bulk_variance(eigenvalues: Tensor, n: int) -> float:
    """The noise variance s2 of the bulk: the median eigenvalue over the Marchenko-Pastur median (the spikes, a
    minority, barely move a median)."""
    return float(eigenvalues.double().median()) / mp_median(len(eigenvalues) / n)


@dataclass
class Spectrum:
    """The standardised covariance spectrum of calibration embeddings (eigenvalues descending)."""

    mean: Tensor  # (d,)
    scale: Tensor  # (d,) the embeddings' RMS about the mean, in every coordinate
    eigenvalues: Tensor  # (d,)
    eigenvectors: Tensor  # (d, d), column j goes with eigenvalue j
    noise_variance: float
    edge: float

    @property
    def n_spikes(self) -> int:
        return int((self.eigenvalues > self.edge).sum())


def standardise(e: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
    return (e.double() - mean) / scale


def covariance_eigh(z: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (descending) and eigenvectors of the sample covariance of ``z`` (n x d), in float64."""
    z = z.double() - z.double().mean(0)
    vals, vecs = torch.linalg.eigh(z.T @ z / (len(z) - 1))
    return vals.flip(0), vecs.flip(1)


def spectrum(embeddings: Tensor) -> Spectrum:
    """Centre and scale ``embeddings`` (n x d, n > d), eigendecompose, and place the Marchenko-Pastur edge."""
    e = embeddings.double()
    if len(e) <= e.shape[1]:
        raise ValueError(
            f"spectrum: need more embeddings than dimensions, got {len(e)} of dimension {e.shape[1]}"
        )
    mean = e.mean(0)
    rms = float((e - mean).pow(2).mean().sqrt())
    scale = torch.full_like(mean, rms if rms > 0 else 1.0)
    vals, vecs = covariance_eigh(standardise(e, mean, scale))
    s2 = bulk_variance(vals, len(e))
    return Spectrum(mean, scale, vals, vecs, s2, largest_noise_eigenvalue_bound(len(e), e.shape[1], s2))


def instability(spec: Spectrum, perturbed: list[Tensor]) -> Tensor:
    """Each eigenvector's nonconformity (d,): ``1 - max_i |<v_j, w_i>|`` over the eigenvectors w_i of each perturbed
    set of embeddings (standardised with the clean statistics), averaged over the sets. 0: the direction survives
    every perturbation; near 1: it is gone."""
    scores = torch.zeros(spec.eigenvectors.shape[1], dtype=torch.float64)
    for e in perturbed:
        _, w = covariance_eigh(standardise(e, spec.mean, spec.scale))
        scores += 1.0 - (spec.eigenvectors.T @ w).abs().max(1).values
    return scores / len(perturbed)


def causal_directions(spec: Spectrum, scores: Tensor, level: float = 0.05) -> Tensor:
    """Indices of the causal eigenvectors: spikes whose score is at most the ``level`` quantile of the bulk
    eigenvectors' scores (all spikes when there is no bulk)."""
    spikes = torch.arange(spec.n_spikes)
    bulk = scores[spec.n_spikes :]
    if len(bulk) == 0:
        return spikes
    threshold = torch.quantile(bulk, level)
    return spikes[scores[: spec.n_spikes] <= threshold]


class SubspaceProjection(nn.Module):
    """``e -> mean + scale * B B^T ((e - mean) / scale)`` for an orthonormal basis B (d x k) of the standardised
    space: EigenShield's filter when B holds the causal eigenvectors; PCA's or a random subspace's with other B."""

    def __init__(self, mean: Tensor, scale: Tensor, basis: Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("scale", scale.float())
        self.register_buffer("basis", basis.float())

    def forward(self, e: Tensor) -> Tensor:
        z = (e - self.mean) / self.scale
        return self.mean + self.scale * ((z @ self.basis) @ self.basis.T)


def random_basis(d: int, k: int, generator: torch.Generator) -> Tensor:
    """An orthonormal basis (d x k) of a uniformly random k-dimensional subspace."""
    q, r = torch.linalg.qr(torch.randn(d, k, generator=generator, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))
