"""Patch-level anomaly scorers fitted on the patch features of a few normal images.

Every scorer is fitted on an ``(N, D)`` array of normal patch features and scores an ``(M, D)`` array, higher =
more anomalous:

- ``PCAResidual`` (SubspaceAD): the mean and the leading principal directions that explain a fraction ``ev``
  of the variance; the score is the squared norm of a feature's residual off that affine subspace.
- ``NearestNeighbour`` (AnomalyDINO-style memory bank): the cosine distance to the nearest stored patch.
- ``GaussianMahalanobis`` (PaDiM-style, one Gaussian for all positions): the squared Mahalanobis distance under
  the Ledoit-Wolf shrunk covariance.

``stored_floats`` is what a scorer keeps after fitting (the memory claim compares it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def components_for_variance(eigenvalues: np.ndarray, ev: float) -> int:
    """The fewest leading components whose explained variance reaches the fraction ``ev`` (at least 1)."""
    if not 0 < ev <= 1:
        raise ValueError(f"ev must be in (0, 1], got {ev}")
    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0, None)
    total = lam.sum()
    if total <= 0:
        return 1
    ratio = np.cumsum(lam) / total
    return int(min(len(lam), np.searchsorted(ratio, ev - 1e-12) + 1))


@dataclass
class PCAResidual:
    """Affine PCA subspace of the normal features; score = ‖(x − μ) − C Cᵀ(x − μ)‖²."""

    ev: float = 0.99
    mean: np.ndarray | None = None
    components: np.ndarray | None = None  # (k, D), orthonormal rows

    def fit(self, X: np.ndarray) -> PCAResidual:
        X = np.asarray(X, dtype=np.float64)
        self.mean = X.mean(0)
        # principal directions from the SVD of the centred data (eigenvalues = s² / (N − 1))
        _, s, vt = np.linalg.svd(X - self.mean, full_matrices=False)
        k = components_for_variance(s**2, self.ev)
        self.components = vt[:k]
        return self

    @property
    def rank(self) -> int:
        return int(self.components.shape[0])

    def score(self, X: np.ndarray) -> np.ndarray:
        Z = np.asarray(X, dtype=np.float64) - self.mean
        residual = Z - (Z @ self.components.T) @ self.components
        return np.einsum("ij,ij->i", residual, residual)

    @property
    def stored_floats(self) -> int:
        return int(self.mean.size + self.components.size)


@dataclass
class NearestNeighbour:
    """Memory bank of every normal patch; score = 1 − max cosine similarity to the bank."""

    chunk: int = 4096
    bank: torch.Tensor | None = None

    def fit(self, X: np.ndarray) -> NearestNeighbour:
        self.bank = torch.nn.functional.normalize(torch.as_tensor(np.asarray(X), dtype=torch.float64), dim=1)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        Q = torch.nn.functional.normalize(torch.as_tensor(np.asarray(X), dtype=torch.float64), dim=1)
        best = torch.cat([(q @ self.bank.T).amax(1) for q in Q.split(self.chunk)])
        return (1.0 - best).numpy()

    @property
    def stored_floats(self) -> int:
        return int(self.bank.numel())


@dataclass
class GaussianMahalanobis:
    """One Gaussian over all normal patches (Ledoit-Wolf shrinkage); score = squared Mahalanobis distance."""

    mean: np.ndarray | None = None
    precision: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> GaussianMahalanobis:
        from sklearn.covariance import LedoitWolf

        model = LedoitWolf().fit(np.asarray(X, dtype=np.float64))
        self.mean, self.precision = model.location_, model.precision_
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        Z = np.asarray(X, dtype=np.float64) - self.mean
        return np.einsum("ij,jk,ik->i", Z, self.precision, Z)

    @property
    def stored_floats(self) -> int:
        return int(self.mean.size + self.precision.size)


SCORERS = {"pca": PCAResidual, "knn": NearestNeighbour, "mahalanobis": GaussianMahalanobis}


def make_scorer(name: str, ev: float = 0.99):
    if name not in SCORERS:
        raise ValueError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}")
    return PCAResidual(ev=ev) if name == "pca" else SCORERS[name]()
