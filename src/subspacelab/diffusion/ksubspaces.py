"""K-subspaces clustering (Bradley & Mangasarian 2000; Ho et al. 2003): the problem the paper proves
diffusion training equivalent to (Wang et al. 2024, Theorem 3; Theorem 1 for K = 1, where it is PCA):

    max over orthonormal U_1..U_K and a partition C_1..C_K of  Σ_k Σ_{i ∈ C_k} ||U_kᵀ x_i||².

Lloyd-type alternation: assign every point to the subspace with the largest projected energy (= the
smallest residual for linear subspaces), then set U_k to the d_k leading left singular vectors of the
points of cluster k (uncentred PCA); stop when the assignment no longer changes. The best objective over
restarts is kept. Starts (``init``): "points" spans each U_k by d_k random data points; "neighbours" spans it
by a random point and its d_k − 1 nearest neighbours in angle (largest |cos|), a local-flat start in the
spirit of local best-fit flats (Zhang, Szlam, Wang & Lerman 2012); "mixed" (default) alternates the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from subspacelab.numerics.union_of_subspaces import DTYPE, haar_orthogonal, orthonormalize, top_subspace


@dataclass
class KSubspacesResult:
    bases: list[Tensor]
    labels: Tensor
    objective: float  # Σ_i ||U_{c(i)}ᵀ x_i||²
    explained: float  # objective / Σ_i ||x_i||²
    iterations: int  # of the best restart
    restarts: int


def energies(X: Tensor, bases: Sequence[Tensor]) -> Tensor:
    """(N, K) matrix of ||U_kᵀ x_i||²."""
    return torch.stack([((X @ U) ** 2).sum(dim=1) for U in bases], dim=1)


INITS = ("points", "neighbours", "mixed")


def _span(X: Tensor, idx, d: int, rng: np.random.Generator) -> Tensor:
    cols = X[torch.as_tensor(np.asarray(idx, dtype=np.int64))].T
    if cols.shape[1] < d or torch.linalg.matrix_rank(cols) < d:  # too few or dependent points: pad
        cols = torch.cat([cols, haar_orthogonal(X.shape[1], d, rng) * 1e-3 * (cols.norm() + 1)], dim=1)
    return orthonormalize(cols)[:, :d].contiguous()


def _init_bases(
    X: Tensor, dims: Sequence[int], rng: np.random.Generator, mode: str = "points"
) -> list[Tensor]:
    if mode == "points":
        return [
            _span(X, rng.choice(X.shape[0], size=min(d, X.shape[0]), replace=False), d, rng) for d in dims
        ]
    unit = X / X.norm(dim=1, keepdim=True).clamp_min(1e-300)
    cos = (unit @ unit.T).abs()
    seeds = rng.choice(X.shape[0], size=len(dims), replace=len(dims) > X.shape[0])
    out = []
    for seed, d in zip(seeds, dims, strict=True):
        order = torch.argsort(cos[int(seed)], descending=True, stable=True).numpy()
        order = [int(seed)] + [int(i) for i in order if i != seed]
        out.append(_span(X, order[: min(d, X.shape[0])], d, rng))
    return out


def ksubspaces(
    X: Tensor,
    dims: Sequence[int],
    restarts: int = 10,
    max_iter: int = 100,
    seed: int = 0,
    init: Sequence[Tensor] | None = None,
    init_mode: str = "mixed",
) -> KSubspacesResult:
    """K-subspaces on the rows of X with subspace dimensions ``dims`` (see module doc). ``init``: start
    bases for one extra run (e.g. another method's solution, to test that it is a fixed point)."""
    X = X.to(DTYPE)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError("ksubspaces: X must be a non-empty (N, n) matrix")
    if restarts < 1 or max_iter < 1:
        raise ValueError("ksubspaces: restarts and max_iter must be >= 1")
    if init_mode not in INITS:
        raise ValueError(f"ksubspaces: init_mode one of {INITS}, got {init_mode!r}")
    rng = np.random.default_rng([int(seed), 4])
    total = float((X**2).sum())
    best: KSubspacesResult | None = None
    starts = [list(init)] if init is not None else []
    modes = [init_mode] * restarts if init_mode != "mixed" else ["points", "neighbours"] * restarts
    starts += modes[:restarts]
    for start in starts:
        bases = (
            [orthonormalize(B) for B in start]
            if not isinstance(start, str)
            else _init_bases(X, dims, rng, start)
        )
        labels, iterations = None, 0
        while iterations < max_iter:
            iterations += 1
            new = energies(X, bases).argmax(dim=1)
            if labels is not None and torch.equal(new, labels):
                break
            labels = new
            bases = [top_subspace(X[labels == k], d) for k, d in enumerate(dims)]
        obj = float(energies(X, bases).max(dim=1).values.sum())
        labels = energies(X, bases).argmax(dim=1)
        if best is None or obj > best.objective + 1e-12 * max(1.0, total):
            best = KSubspacesResult(
                bases, labels, obj, obj / total if total > 0 else 1.0, iterations, len(starts)
            )
    return best
