"""Similarity between representations and between subspaces: plain functions on tensors.

Conventions. A *representation* is a matrix X of shape (n_samples, n_features): row i is the activation
vector of the network on input i (for conv layers, see ``capture.flatten_units``). Two representations
being compared must share their rows (same inputs, same order). A *subspace* is given by any matrix whose
column span is the subspace (the columns need not be orthonormal).

Every function accepts torch tensors or numpy arrays and computes in float64 on the CPU; angles and
coefficient vectors come back as float64 tensors, scalar similarities as Python floats.

Sources (read to get the maths; no code copied):
- Principal angles: Björck & Golub (1973), "Numerical methods for computing angles between linear
  subspaces"; the sine/cosine split for small angles follows Knyazev & Argentati (2002), SIAM J. Sci.
  Comput. 23(6), the same scheme ``scipy.linalg.subspace_angles`` documents.
- CKA: Kornblith, Norouzi, Lee & Hinton (2019), "Similarity of Neural Network Representations
  Revisited", ICML, Sec. 3 (HSIC, CKA, linear CKA in feature space, RBF bandwidth as a fraction of the
  median distance) and the authors' demo notebook
  google-research/google-research ``representation_similarity/Demo.ipynb`` (median of the squared
  distances; debiased HSIC of Song et al. 2012, JMLR 13, eq. 5).
- CCA / SVCCA: Raghu, Gilmer, Yosinski & Sohl-Dickstein (2017), "SVCCA", NeurIPS, Sec. 2 (SVD keeping
  99% of the variance, then CCA; similarity = mean canonical correlation) and google/svcca
  ``cca_core.py`` (covariances rescaled by their largest entry, directions with variance below epsilon
  dropped, epsilon added to the diagonal before the inverse square root).
- RSA: Kriegeskorte, Mur & Bandettini (2008), "Representational similarity analysis", Front. Syst.
  Neurosci. 2:4 (RDM = 1 - Pearson correlation between the response patterns to two stimuli; compare
  RDMs by the Spearman correlation of their upper triangles).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray

__all__ = [
    "as_matrix",
    "canonical_correlations",
    "cca_similarity",
    "center_columns",
    "center_gram",
    "cka",
    "grassmann_distance",
    "hsic",
    "linear_cka",
    "linear_gram",
    "orthonormal_basis",
    "principal_angles",
    "rbf_cka",
    "rbf_gram",
    "rdm",
    "rsa_similarity",
    "subspace_overlap",
    "svcca",
    "svcca_coefficients",
    "svd_reduce",
]


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def as_matrix(x: ArrayLike) -> torch.Tensor:
    """Return ``x`` as a 2-D float64 CPU tensor (a 1-D input becomes one column)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.detach().to(device="cpu", dtype=torch.float64)
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise ValueError(f"expected a 2-D (n_samples, n_features) matrix, got shape {tuple(t.shape)}")
    return t


def _same_rows(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"representations must share their rows (inputs): {x.shape[0]} vs {y.shape[0]}")


def center_columns(x: ArrayLike) -> torch.Tensor:
    """Subtract each column's mean: X - 1 mean(X)."""
    x = as_matrix(x)
    return x - x.mean(dim=0, keepdim=True)


# --------------------------------------------------------------------------------------------
# Subspaces: principal angles and overlap
# --------------------------------------------------------------------------------------------


def orthonormal_basis(a: ArrayLike, rtol: float | None = None) -> torch.Tensor:
    """Orthonormal basis Q (n x r) of the column span of A (n x k), r = rank(A).

    Thin QR first (fast); if a diagonal entry of R is below ``rtol * max|R_ii|`` the columns are
    (numerically) dependent and the basis is taken from the thin SVD instead, keeping the left singular
    vectors whose singular value exceeds ``rtol * s_max``. Default ``rtol = max(n, k) * eps(float64)``.
    """
    a = as_matrix(a)
    n, k = a.shape
    if rtol is None:
        rtol = max(n, k) * torch.finfo(torch.float64).eps
    if k == 0 or not torch.any(a != 0):
        return a.new_zeros((n, 0))
    if k <= n:
        q, r = torch.linalg.qr(a)
        d = r.diagonal().abs()
        if d.min() > rtol * d.max():
            return q
    u, s, _ = torch.linalg.svd(a, full_matrices=False)
    return u[:, s > rtol * s[0]]


def principal_angles(a: ArrayLike, b: ArrayLike, rtol: float | None = None) -> torch.Tensor:
    """Principal angles 0 <= theta_1 <= ... <= theta_m <= pi/2 between span(A) and span(B).

    With orthonormal bases Q_A, Q_B (ranks r_A >= r_B after swapping), m = r_B and
    cos theta_i = sigma_i(Q_A^T Q_B) (Björck & Golub 1973). Cosines lose accuracy for small angles, so,
    as in Knyazev & Argentati (2002), the sines sigma(Q_B - Q_A Q_A^T Q_B) are used where
    cos^2 theta > 1/2 (theta < pi/4). Returned ascending (``scipy.linalg.subspace_angles`` returns the
    same values in descending order).
    """
    qa, qb = orthonormal_basis(a, rtol), orthonormal_basis(b, rtol)
    if qa.shape[0] != qb.shape[0]:
        raise ValueError(f"subspaces live in different spaces: R^{qa.shape[0]} vs R^{qb.shape[0]}")
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa
    if qb.shape[1] == 0:
        return qa.new_zeros(0)
    m = qa.T @ qb
    cos = torch.linalg.svdvals(m).clamp(0.0, 1.0)  # descending -> angles ascending
    sin = torch.linalg.svdvals(qb - qa @ m).clamp(0.0, 1.0).flip(0)  # ascending
    small = cos**2 > 0.5
    return torch.where(small, torch.arcsin(sin), torch.arccos(cos))


def subspace_overlap(a: ArrayLike, b: ArrayLike, rtol: float | None = None) -> float:
    """Mean squared cosine of the principal angles, in [0, 1].

    overlap = ||Q_A^T Q_B||_F^2 / m = ||P_A P_B||_F^2 / m = (1/m) sum_i cos^2 theta_i, with
    m = min(rank A, rank B) and P the orthogonal projectors. 1 iff the smaller subspace lies inside the
    larger, 0 iff they are orthogonal.
    """
    qa, qb = orthonormal_basis(a, rtol), orthonormal_basis(b, rtol)
    m = min(qa.shape[1], qb.shape[1])
    if m == 0:
        return 0.0
    return float((qa.T @ qb).square().sum() / m)


def grassmann_distance(a: ArrayLike, b: ArrayLike, rtol: float | None = None) -> float:
    """Geodesic (arc-length) distance on the Grassmannian: ||theta||_2 over the principal angles."""
    return float(torch.linalg.vector_norm(principal_angles(a, b, rtol)))


# --------------------------------------------------------------------------------------------
# CKA (Kornblith et al. 2019)
# --------------------------------------------------------------------------------------------


def linear_gram(x: ArrayLike) -> torch.Tensor:
    """Linear kernel Gram matrix K = X X^T (n x n)."""
    x = as_matrix(x)
    return x @ x.T


def _squared_distances(x: torch.Tensor) -> torch.Tensor:
    g = x @ x.T
    sq = g.diagonal()
    return (sq[:, None] + sq[None, :] - 2.0 * g).clamp_min(0.0)


def _median(v: torch.Tensor) -> torch.Tensor:
    """numpy-style median (mean of the two middle values for an even count)."""
    v = v.flatten()
    n = v.numel()
    lo = torch.kthvalue(v, (n + 1) // 2).values
    hi = torch.kthvalue(v, n // 2 + 1).values
    return (lo + hi) / 2


def rbf_gram(x: ArrayLike, threshold: float = 1.0) -> torch.Tensor:
    """RBF Gram matrix K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)), sigma = threshold * median distance.

    As in Kornblith et al. (2019, Sec. 6.1 and demo notebook) the median is taken over all n^2 squared
    distances (diagonal zeros included), i.e. sigma^2 = threshold^2 * median_ij ||x_i - x_j||^2.
    """
    d2 = _squared_distances(as_matrix(x))
    med = _median(d2)
    if med <= 0:
        raise ValueError("median squared distance is zero: too many identical rows for an RBF bandwidth")
    return torch.exp(-d2 / (2.0 * threshold**2 * med))


def center_gram(k: torch.Tensor) -> torch.Tensor:
    """Double centering H K H with H = I - 11^T/n."""
    return k - k.mean(dim=0, keepdim=True) - k.mean(dim=1, keepdim=True) + k.mean()


def hsic(kx: ArrayLike, ky: ArrayLike, debiased: bool = False) -> float:
    """HSIC between two n x n Gram matrices.

    Biased (Gretton et al. 2005; Kornblith et al. eq. 3): HSIC = tr(K H L H) / (n - 1)^2.
    Debiased (Song et al. 2012, eq. 5), with K~, L~ the Gram matrices with zeroed diagonals:
    HSIC_1 = [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n - 3)).
    """
    kx, ky = as_matrix(kx), as_matrix(ky)
    n = kx.shape[0]
    if kx.shape != (n, n) or ky.shape != (n, n):
        raise ValueError("HSIC needs two square Gram matrices of the same size")
    if not debiased:
        return float((center_gram(kx) * center_gram(ky)).sum() / (n - 1) ** 2)
    if n < 4:
        raise ValueError("debiased HSIC needs n >= 4")
    kt = kx - torch.diag(kx.diagonal())
    lt = ky - torch.diag(ky.diagonal())
    trace = (kt * lt).sum()
    sums = kt.sum() * lt.sum() / ((n - 1) * (n - 2))
    cross = 2.0 / (n - 2) * (kt.sum(dim=0) @ lt.sum(dim=1))
    return float((trace + sums - cross) / (n * (n - 3)))


def cka(
    x: ArrayLike,
    y: ArrayLike,
    kernel: Literal["linear", "rbf"] = "linear",
    threshold: float = 1.0,
    debiased: bool = False,
) -> float:
    """Centered kernel alignment CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)).

    Kornblith et al. (2019) eq. 4. Invariant to orthogonal transforms and isotropic scaling of either
    representation (for the RBF kernel the median-distance bandwidth supplies the scale invariance);
    CKA(X, X) = 1. ``debiased`` uses the unbiased HSIC estimator (then values can be slightly negative).
    """
    x, y = as_matrix(x), as_matrix(y)
    _same_rows(x, y)
    if kernel == "linear" and not debiased:
        return linear_cka(x, y)
    if kernel == "linear":
        kx, ky = linear_gram(center_columns(x)), linear_gram(center_columns(y))
    elif kernel == "rbf":
        kx, ky = rbf_gram(x, threshold), rbf_gram(y, threshold)
    else:
        raise ValueError(f"kernel must be 'linear' or 'rbf', got {kernel!r}")
    kl, kk, ll = hsic(kx, ky, debiased), hsic(kx, kx, debiased), hsic(ky, ky, debiased)
    denom = math.sqrt(kk * ll) if kk > 0 and ll > 0 else 0.0
    return kl / denom if denom > 0 else 0.0


def linear_cka(x: ArrayLike, y: ArrayLike) -> float:
    """Linear CKA in feature space (Kornblith et al. 2019, Sec. 3 "Linear kernel"):

    CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), X and Y column-centred. Costs O(n p^2) instead of
    the O(n^2 p) of the Gram form, and equals ``cka(x, y, "linear")`` computed through HSIC.
    """
    x, y = center_columns(x), center_columns(y)
    _same_rows(x, y)
    num = torch.linalg.matrix_norm(y.T @ x).square()
    den = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    return float(num / den) if den > 0 else 0.0


def rbf_cka(x: ArrayLike, y: ArrayLike, threshold: float = 1.0, debiased: bool = False) -> float:
    """CKA with RBF kernels of bandwidth ``threshold`` times the median distance (Kornblith et al.)."""
    return cka(x, y, kernel="rbf", threshold=threshold, debiased=debiased)


# --------------------------------------------------------------------------------------------
# CCA and SVCCA (Raghu et al. 2017)
# --------------------------------------------------------------------------------------------


def _inv_sqrt_psd(c: torch.Tensor, rtol: float) -> torch.Tensor:
    """Pseudo-inverse square root of a symmetric PSD matrix (eigenvalues below rtol * max set to 0)."""
    w, v = torch.linalg.eigh(c)
    keep = w > rtol * w.max().clamp_min(0)
    inv = torch.where(keep, w.clamp_min(torch.finfo(w.dtype).tiny).rsqrt(), torch.zeros_like(w))
    return (v * inv) @ v.T


def canonical_correlations(x: ArrayLike, y: ArrayLike, epsilon: float = 0.0) -> torch.Tensor:
    """Canonical correlations rho_1 >= ... >= rho_m between the columns of X and Y (m = min(p_x, p_y)).

    epsilon = 0: exact CCA. After column-centring, the canonical correlations are the cosines of the
    principal angles between the column spans of X and Y in R^n, rho_i = sigma_i(Q_X^T Q_Y) (Björck &
    Golub 1973), computed from orthonormal bases (no covariance is inverted). Rank-deficient inputs give
    m = min(rank X, rank Y) values, padded with zeros to min(p_x, p_y).

    epsilon > 0: regularised CCA as in google/svcca ``cca_core.py``: covariances S_xx, S_yy, S_xy,
    rescaled by max|S_xx| and max|S_yy| (S_xy by their geometric mean), features with rescaled variance
    below epsilon dropped, then rho = sigma(S_xx'^{-1/2} S_xy S_yy'^{-1/2}) with S' = S + epsilon I.

    Needs n_samples well above p_x + p_y; with n <= p every correlation is trivially 1.
    """
    x, y = center_columns(x), center_columns(y)
    _same_rows(x, y)
    m = min(x.shape[1], y.shape[1])
    if epsilon == 0.0:
        qx, qy = orthonormal_basis(x), orthonormal_basis(y)
        rho = torch.linalg.svdvals(qx.T @ qy).clamp(0.0, 1.0)
    else:
        n = x.shape[0]
        sxx, syy, sxy = x.T @ x / (n - 1), y.T @ y / (n - 1), x.T @ y / (n - 1)
        xmax, ymax = sxx.abs().max(), syy.abs().max()
        if xmax == 0 or ymax == 0:
            return x.new_zeros(m)
        sxx, syy, sxy = sxx / xmax, syy / ymax, sxy / torch.sqrt(xmax * ymax)
        kx, ky = sxx.diagonal() >= epsilon, syy.diagonal() >= epsilon
        if not kx.any() or not ky.any():
            return x.new_zeros(m)
        sxx, syy, sxy = sxx[kx][:, kx], syy[ky][:, ky], sxy[kx][:, ky]
        eps64 = torch.finfo(torch.float64).eps
        ix = _inv_sqrt_psd(sxx + epsilon * torch.eye(len(sxx), dtype=sxx.dtype), eps64 * len(sxx))
        iy = _inv_sqrt_psd(syy + epsilon * torch.eye(len(syy), dtype=syy.dtype), eps64 * len(syy))
        rho = torch.linalg.svdvals(ix @ sxy @ iy).clamp(0.0, 1.0)
    out = x.new_zeros(m)
    out[: min(m, rho.numel())] = rho[:m]
    return out


def cca_similarity(x: ArrayLike, y: ArrayLike, epsilon: float = 0.0) -> float:
    """Mean canonical correlation rho_bar = (1/m) sum_i rho_i (Raghu et al. 2017, Sec. 2)."""
    return float(canonical_correlations(x, y, epsilon).mean())


def svd_reduce(x: ArrayLike, keep_variance: float = 0.99, n_components: int | None = None) -> torch.Tensor:
    """SVD step of SVCCA: project the column-centred X onto its top-k principal directions.

    X_c = U S V^T; returns U_k S_k (n x k), k = ``n_components`` or the smallest k whose directions
    explain at least ``keep_variance`` of the total variance: sum_{i<=k} s_i^2 >= keep_variance sum s_i^2
    (Raghu et al. 2017 keep 99%).
    """
    x = center_columns(x)
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    if n_components is None:
        if not 0.0 < keep_variance <= 1.0:
            raise ValueError(f"keep_variance must lie in (0, 1], got {keep_variance}")
        frac = torch.cumsum(s.square(), 0) / s.square().sum()
        k = int(torch.searchsorted(frac, torch.tensor(keep_variance, dtype=frac.dtype) - 1e-12)) + 1
    else:
        k = int(n_components)
    k = max(1, min(k, s.numel()))
    return u[:, :k] * s[:k]


def svcca_coefficients(
    x: ArrayLike,
    y: ArrayLike,
    keep_variance: float = 0.99,
    n_components: int | None = None,
    epsilon: float = 0.0,
) -> torch.Tensor:
    """Canonical correlations of the SVD-reduced representations (Raghu et al. 2017, Sec. 2 steps 1-2)."""
    return canonical_correlations(
        svd_reduce(x, keep_variance, n_components), svd_reduce(y, keep_variance, n_components), epsilon
    )


def svcca(
    x: ArrayLike,
    y: ArrayLike,
    keep_variance: float = 0.99,
    n_components: int | None = None,
    epsilon: float = 0.0,
) -> float:
    """SVCCA similarity: mean canonical correlation after keeping ``keep_variance`` of each variance."""
    return float(svcca_coefficients(x, y, keep_variance, n_components, epsilon).mean())


# --------------------------------------------------------------------------------------------
# Representational similarity analysis
# --------------------------------------------------------------------------------------------


def rdm(x: ArrayLike, metric: Literal["correlation", "euclidean"] = "correlation") -> torch.Tensor:
    """Representational dissimilarity matrix (n x n) between the rows (stimuli) of X.

    ``correlation``: D_ij = 1 - corr(x_i, x_j) (Pearson over features; Kriegeskorte et al. 2008).
    ``euclidean``: D_ij = ||x_i - x_j||_2.
    """
    x = as_matrix(x)
    if metric == "correlation":
        z = x - x.mean(dim=1, keepdim=True)
        norms = torch.linalg.vector_norm(z, dim=1, keepdim=True)
        z = torch.where(norms > 0, z / norms.clamp_min(torch.finfo(z.dtype).tiny), torch.zeros_like(z))
        return 1.0 - z @ z.T
    if metric == "euclidean":
        return _squared_distances(x).sqrt()
    raise ValueError(f"metric must be 'correlation' or 'euclidean', got {metric!r}")


def _ranks(v: torch.Tensor) -> torch.Tensor:
    """Average ranks (ties share the mean rank), as Spearman's correlation needs."""
    order = torch.argsort(v, stable=True)
    sv = v[order]
    _, inverse, counts = torch.unique_consecutive(sv, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    mean_rank = ends - (counts.to(torch.float64) - 1) / 2
    ranks_sorted = mean_rank[inverse]
    out = torch.empty_like(ranks_sorted)
    out[order] = ranks_sorted
    return out


def rsa_similarity(
    x: ArrayLike,
    y: ArrayLike,
    metric: Literal["correlation", "euclidean"] = "correlation",
    method: Literal["spearman", "pearson"] = "spearman",
) -> float:
    """Correlation between the upper triangles (i < j) of the RDMs of X and Y (Kriegeskorte et al. 2008)."""
    x, y = as_matrix(x), as_matrix(y)
    _same_rows(x, y)
    n = x.shape[0]
    iu = torch.triu_indices(n, n, offset=1)
    a, b = rdm(x, metric)[iu[0], iu[1]], rdm(y, metric)[iu[0], iu[1]]
    if method == "spearman":
        a, b = _ranks(a), _ranks(b)
    elif method != "pearson":
        raise ValueError(f"method must be 'spearman' or 'pearson', got {method!r}")
    a, b = a - a.mean(), b - b.mean()
    den = torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)
    return float(a @ b / den) if den > 0 else 0.0
