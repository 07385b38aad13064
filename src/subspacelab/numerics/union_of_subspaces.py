"""The union-of-subspaces generator every clustering and diffusion paper shares, and its metrics.

Data model: K linear subspaces S_k = span(U_k) of R^n, U_k an orthonormal n x d_k basis; a point of
subspace k is x = U_k a (+ ambient noise e), a ~ the coefficient law. The mixture of low-rank Gaussians
(MoLRG) of Wang et al. (arXiv 2409.02426) is the case a ~ N(0, I_{d_k}).

Metrics:
- principal angles θ_1 <= ... between span(U) and span(V) (cosines from svd(UᵀV), sines from
  svd(V − UUᵀV), so small angles are accurate);
- projector distance ||UUᵀ − VVᵀ||_F / sqrt(d_U + d_V) in [0, 1] (= RMS sine of the principal angles when
  the dimensions agree; 1 = orthogonal subspaces);
- subspace_error: the mean over k of that distance after matching estimated to true subspaces by the best
  permutation (an assignment problem: exact via the Hungarian algorithm);
- distance_to_union: min_k ||(I − U_kU_kᵀ) x||.

Everything is float64: recovery errors near 1e-8 must not drown in float32 round-off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

DTYPE = torch.float64
COEFFICIENTS = ("gaussian", "sphere", "uniform")


def _rng(*keys: int) -> np.random.Generator:
    """numpy's generator (sequential fills: the first m rows of an (M, d) draw are the (m, d) draw)."""
    return np.random.default_rng([int(k) for k in keys])


def haar_orthogonal(n: int, cols: int, rng: np.random.Generator) -> Tensor:
    """n x cols with orthonormal columns, Haar-distributed: QR of a Gaussian with the signs of diag(R)
    moved into Q (so the law does not depend on the QR convention)."""
    G = torch.from_numpy(rng.standard_normal((n, cols)))
    Q, R = torch.linalg.qr(G)
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1.0
    return Q * signs


def random_bases(ambient: int, dims: Sequence[int], seed: int, disjoint: bool = True) -> list[Tensor]:
    """Orthonormal bases U_k (ambient x d_k, float64) of K random subspaces.

    ``disjoint=True``: consecutive column blocks of one Haar-random orthogonal matrix, so the subspaces are
    mutually orthogonal (as the official MoLRG generator does with the SVD of randn(n, n); needs
    sum(dims) <= ambient). ``disjoint=False``: K independent Haar-random subspaces (they intersect only
    trivially almost surely, but are not orthogonal).
    """
    dims = [int(d) for d in dims]
    if not dims or min(dims) < 1:
        raise ValueError(f"dims: need positive subspace dimensions, got {dims}")
    if max(dims) > ambient:
        raise ValueError(f"dims: every d_k must be <= ambient={ambient}, got {dims}")
    gen = _rng(seed)
    if disjoint:
        if sum(dims) > ambient:
            raise ValueError(f"disjoint subspaces need sum(dims)={sum(dims)} <= ambient={ambient}")
        Q = haar_orthogonal(ambient, sum(dims), gen)
        edges = np.cumsum([0, *dims])
        return [Q[:, a:b].contiguous() for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return [haar_orthogonal(ambient, d, gen) for d in dims]


def _coefficients(kind: str, m: int, d: int, rng: np.random.Generator) -> Tensor:
    if kind == "gaussian":
        return torch.from_numpy(rng.standard_normal((m, d)))
    if kind == "sphere":  # uniform on the unit sphere of the subspace
        a = torch.from_numpy(rng.standard_normal((m, d)))
        return a / a.norm(dim=1, keepdim=True).clamp_min(1e-300)
    if kind == "uniform":  # uniform in the cube [-1, 1]^d of coefficients
        return torch.from_numpy(2 * rng.random((m, d)) - 1)
    raise ValueError(f"coefficients: one of {COEFFICIENTS}, got {kind!r}")


def sample_union(
    bases: Sequence[Tensor],
    n_per: int | Sequence[int],
    seed: int,
    noise: float = 0.0,
    coefficients: str = "gaussian",
) -> tuple[Tensor, Tensor]:
    """Points on the union: x = U_k a + noise·e, e ~ N(0, I_n). Returns X (N, n) float64 and labels (N,)
    int64, grouped by subspace (labels 0..0, 1..1, ...). ``n_per``: points per subspace (one int for all).

    Nested in n_per: with the same seed, the first m points of subspace k are the same for every
    n_per >= m (each subspace draws from its own stream), so a sweep over N shares its samples.
    """
    K = len(bases)
    counts = [int(n_per)] * K if isinstance(n_per, int | np.integer) else [int(c) for c in n_per]
    if len(counts) != K or min(counts) < 0:
        raise ValueError(f"n_per: need {K} non-negative counts, got {n_per}")
    if noise < 0:
        raise ValueError(f"noise: must be >= 0, got {noise}")
    xs, labels = [], []
    for k, (U, m) in enumerate(zip(bases, counts, strict=True)):
        U = U.to(DTYPE)
        # one stream for coefficients and one for noise per subspace: nested in m, and the noise level
        # does not change the coefficients
        if coefficients not in COEFFICIENTS:
            raise ValueError(f"coefficients: one of {COEFFICIENTS}, got {coefficients!r}")
        a = _coefficients(coefficients, m, U.shape[1], _rng(seed, k, 0))
        x = a @ U.T
        if noise > 0:
            x = x + noise * torch.from_numpy(_rng(seed, k, 1).standard_normal((m, U.shape[0])))
        xs.append(x)
        labels.append(torch.full((m,), k, dtype=torch.int64))
    return torch.cat(xs), torch.cat(labels)


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------
def orthonormalize(U: Tensor) -> Tensor:
    """An orthonormal basis of span(U) (QR, float64)."""
    Q, _ = torch.linalg.qr(U.to(DTYPE))
    return Q


def principal_angles(U: Tensor, V: Tensor) -> Tensor:
    """Principal angles (radians, ascending) between span(U) and span(V); min(d_U, d_V) of them.
    The bases are orthonormalised first. Cosines come from svd(UᵀV); angles below π/4 are taken from
    the sines, svd of the part of the smaller basis outside the larger span (Björck & Golub)."""
    U, V = orthonormalize(U), orthonormalize(V)
    if U.shape[1] < V.shape[1]:
        U, V = V, U  # V is the smaller basis
    cos = torch.linalg.svdvals(U.T @ V).clamp(0.0, 1.0)  # descending -> angles ascending
    sin = torch.linalg.svdvals(V - U @ (U.T @ V)).flip(0).clamp(0.0, 1.0)  # ascending
    theta = torch.arccos(cos)
    small = cos > np.sqrt(0.5)
    theta[small] = torch.arcsin(sin[small])
    return theta


def projector_distance(U: Tensor, V: Tensor) -> float:
    """||UUᵀ − VVᵀ||_F / sqrt(d_U + d_V) in [0, 1] (bases orthonormalised first).
    ||UUᵀ − VVᵀ||_F² = d_U + d_V − 2 Σ cos² θ_i = |d_U − d_V| + 2 Σ sin² θ_i, computed from the sines
    so that nearly equal subspaces get an accurate small distance (not sqrt of round-off); for equal dimensions this is
    sqrt(mean sin² θ)."""
    p, q = U.shape[1], V.shape[1]
    sq = abs(p - q) + 2 * float((torch.sin(principal_angles(U, V)) ** 2).sum())
    return math.sqrt(sq / (p + q))


def match_subspaces(estimated: Sequence[Tensor], true: Sequence[Tensor]) -> tuple[list[int], np.ndarray]:
    """perm with estimated[perm[k]] matched to true[k], minimising the summed projector distance (needs
    len(estimated) >= len(true)); and the full distance matrix D[i, k] = dist(estimated[i], true[k])."""
    from scipy.optimize import linear_sum_assignment

    if len(estimated) < len(true):
        raise ValueError(f"need at least {len(true)} estimated subspaces, got {len(estimated)}")
    D = np.array([[projector_distance(E, T) for T in true] for E in estimated])
    rows, cols = linear_sum_assignment(D)
    perm = [0] * len(true)
    for r, c in zip(rows, cols, strict=True):
        perm[c] = int(r)
    return perm, D


def subspace_error(estimated: Sequence[Tensor], true: Sequence[Tensor]) -> float:
    """min over permutations π of (1/K) Σ_k ||Û_π(k)Û_π(k)ᵀ − U_kU_kᵀ||_F / sqrt(d̂_π(k) + d_k),
    in [0, 1].

    The notes write the normalisation as √2·d_k; we divide by sqrt(d̂ + d) = √(2 d_k) for equal dimensions
    so that the error is in [0, 1] for every d_k and one success threshold means the same across a sweep
    over d_k (it is the RMS sine of the principal angles, averaged over subspaces)."""
    perm, D = match_subspaces(estimated, true)
    return float(np.mean([D[perm[k], k] for k in range(len(true))]))


def residuals_to_subspaces(X: Tensor, bases: Sequence[Tensor]) -> Tensor:
    """(N, K) matrix of ||(I − U_kU_kᵀ) x_i|| (bases assumed orthonormal). Computed from the residual
    vectors, not as sqrt(||x||² − ||U_kᵀx||²), which would lose half the digits for points on a subspace."""
    X = X.to(DTYPE)
    return torch.stack([(X - (X @ U.to(DTYPE)) @ U.to(DTYPE).T).norm(dim=1) for U in bases], dim=1)


def distance_to_union(X: Tensor, bases: Sequence[Tensor], relative: bool = False) -> Tensor:
    """min_k ||(I − U_kU_kᵀ) x_i|| per row of X (N, n); ``relative`` divides by ||x_i||."""
    d = residuals_to_subspaces(X, bases).min(dim=1).values
    if relative:
        d = d / X.to(DTYPE).norm(dim=1).clamp_min(1e-300)
    return d


def nearest_subspace(X: Tensor, bases: Sequence[Tensor]) -> Tensor:
    """Index of the subspace closest to each row (the oracle assignment)."""
    return residuals_to_subspaces(X, bases).argmin(dim=1)


def nearest_neighbour_distance(X: Tensor, Y: Tensor, relative: bool = False) -> Tensor:
    """min_j ||x_i − y_j|| for each row of X; ``relative`` divides by ||x_i||."""
    X, Y = X.to(DTYPE), Y.to(DTYPE)
    d = torch.cdist(X, Y).min(dim=1).values
    if relative:
        d = d / X.norm(dim=1).clamp_min(1e-300)
    return d


def top_subspace(X: Tensor, d: int) -> Tensor:
    """The d leading left singular vectors of Xᵀ (uncentred PCA of the rows of X): argmax_U ||XU||_F²
    over orthonormal n x d U. With fewer than d rows, the rest is an arbitrary orthonormal completion."""
    X = X.to(DTYPE)
    n = X.shape[1]
    if X.shape[0] == 0:
        return torch.eye(n, d, dtype=DTYPE)
    # full left factor (n x n) either way; the thin SVD avoids the N x N right factor when N >= n
    U, _, _ = torch.linalg.svd(X.T, full_matrices=X.shape[0] < n)
    return U[:, :d].contiguous()
