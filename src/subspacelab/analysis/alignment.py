"""Post-hoc alignment of two representation spaces from paired anchors, and the matching and retrieval
scores that judge it (Hadgi et al. 2025, "Escaping Plato's Cave: Towards the Alignment of 3D and Text Latent
Spaces", CVPR; arXiv 2503.05283).

X (n x p) and Y (n x q) hold the features two encoders give the same n objects (row i of X and row i of Y
describe one object). Anchors are pairs whose correspondence is known; queries are held-out pairs to recover.

- ``fit_cca``: canonical correlation analysis on the anchors. With S_xx, S_yy, S_xy the anchors' covariances
  (a ridge ``ridge * mean variance`` on each diagonal), S_xx^{-1/2} S_xy S_yy^{-1/2} = U diag(rho) V^T and
  W_X = S_xx^{-1/2} U_k, W_Y = S_yy^{-1/2} V_k: the projected anchors have identity covariance and
  cross-covariance diag(rho_1..rho_k) (Hotelling 1936). The paper fits CCA on the anchors and projects every
  sample onto the top k = 50 directions; its implementation and ridge were not read [reconstructed].
- ``fit_affine``: T(y) = y R + b by least squares on the anchors (the paper's affine map, text to 3D).
- ``local_cka_scores``: the local-CKA score of every query pair (Maniparambil et al. 2024, as the paper uses
  it): linear CKA between the anchors with query x_i appended and the anchors with query y_j appended. One
  appended row changes the centred cross-covariance by a rank-two term, so the whole score matrix costs
  O(m^2 + m d^2) for m queries instead of m^2 CKA computations (derivation in ``_appended_hsic``); it equals
  ``similarity.linear_cka`` on the stacked matrices (tests).
- ``matching_accuracy``: the one-to-one assignment maximising the summed score (Hungarian, scipy's
  ``linear_sum_assignment``), scored by the fraction of queries paired with their own partner;
  ``retrieval_at``: the fraction of row queries whose partner ranks in the top t of its row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "CCA",
    "cosine_scores",
    "fit_affine",
    "fit_cca",
    "fit_pca",
    "local_cka_scores",
    "matching_accuracy",
    "retrieval_at",
]


def _as2d(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D (n_samples, n_features) matrix, got shape {a.shape}")
    return a


def _inv_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v / np.sqrt(np.clip(w, np.finfo(float).tiny, None))) @ v.T


@dataclass(frozen=True)
class CCA:
    """A fitted projection of each space onto its top-k canonical directions."""

    mean_x: np.ndarray
    mean_y: np.ndarray
    wx: np.ndarray  # (p, k)
    wy: np.ndarray  # (q, k)
    correlations: np.ndarray  # (k,) canonical correlations on the anchors, descending

    @property
    def k(self) -> int:
        return self.wx.shape[1]

    def project_x(self, x) -> np.ndarray:
        return (_as2d(x) - self.mean_x) @ self.wx

    def project_y(self, y) -> np.ndarray:
        return (_as2d(y) - self.mean_y) @ self.wy


def fit_cca(xa, ya, k: int, ridge: float = 1e-6) -> CCA:
    """CCA on anchor pairs (rows of ``xa`` and ``ya``), keeping the top ``k`` canonical pairs."""
    xa, ya = _as2d(xa), _as2d(ya)
    if len(xa) != len(ya):
        raise ValueError(f"anchors must pair up: {len(xa)} rows of X, {len(ya)} of Y")
    if not 1 <= k <= min(xa.shape[1], ya.shape[1]):
        raise ValueError(f"k must lie in 1..{min(xa.shape[1], ya.shape[1])}, got {k}")
    mx, my = xa.mean(0), ya.mean(0)
    xc, yc = xa - mx, ya - my
    n = len(xa) - 1
    sxx, syy, sxy = xc.T @ xc / n, yc.T @ yc / n, xc.T @ yc / n
    sxx += ridge * np.trace(sxx) / len(sxx) * np.eye(len(sxx))
    syy += ridge * np.trace(syy) / len(syy) * np.eye(len(syy))
    ix, iy = _inv_sqrt(sxx), _inv_sqrt(syy)
    u, rho, vt = np.linalg.svd(ix @ sxy @ iy)
    return CCA(mx, my, ix @ u[:, :k], iy @ vt[:k].T, rho[:k])


def fit_pca(a, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, top-k principal directions as columns) of one space: the no-cross-modal-information control."""
    a = _as2d(a)
    mean = a.mean(0)
    _, _, vt = np.linalg.svd(a - mean, full_matrices=False)
    return mean, vt[:k].T


def fit_affine(src, dst) -> tuple[np.ndarray, np.ndarray]:
    """(R, b) minimising ||src R + b - dst||_F^2 over the anchors (ordinary least squares)."""
    src, dst = _as2d(src), _as2d(dst)
    design = np.hstack([src, np.ones((len(src), 1))])
    coef, *_ = np.linalg.lstsq(design, dst, rcond=None)
    return coef[:-1], coef[-1]


def cosine_scores(a, b) -> np.ndarray:
    """S_ij = cos(a_i, b_j); a zero row scores 0."""
    a, b = _as2d(a), _as2d(b)
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    return (a / np.where(na > 0, na, 1.0)) @ (b / np.where(nb > 0, nb, 1.0)).T


def _appended_hsic(A: np.ndarray, B: np.ndarray, xq: np.ndarray, yq: np.ndarray) -> np.ndarray:
    """||C_ij||_F^2 for every query pair, C_ij = [A; x_i]_c^T [B; y_j]_c the centred cross-product of the anchors
    with one query row appended to each (N = n + 1 rows, column sums s_A, s_B):

        C_ij = M0 + x_i w_j^T - (s_A / N) y_j^T,   M0 = A^T B - s_A s_B^T / N,   w_j = (1 - 1/N) y_j - s_B / N,

    and its squared norm expands into products of the queries with M0, s_A and s_B only."""
    N = len(A) + 1
    sA, sB = A.sum(0), B.sum(0)
    M0 = A.T @ B - np.outer(sA, sB) / N
    W = (1 - 1 / N) * yq - sB / N  # (m, q)
    xx, ww, yy = (xq * xq).sum(1), (W * W).sum(1), (yq * yq).sum(1)
    return (
        (M0 * M0).sum()
        + np.outer(xx, ww)
        + (sA @ sA) * yy[None, :] / N**2
        + 2 * (xq @ M0) @ W.T
        - 2 * ((sA @ M0) @ yq.T)[None, :] / N
        - 2 * np.outer(xq @ sA, (W * yq).sum(1)) / N
    )


def local_cka_scores(xa, ya, xq, yq) -> np.ndarray:
    """S_ij = linear CKA([X_A; x_i], [Y_A; y_j]) for every query x_i (rows of ``xq``) and y_j (rows of ``yq``)."""
    xa, ya, xq, yq = _as2d(xa), _as2d(ya), _as2d(xq), _as2d(yq)
    cross = _appended_hsic(xa, ya, xq, yq)
    self_x = np.diag(_appended_hsic(xa, xa, xq, xq))
    self_y = np.diag(_appended_hsic(ya, ya, yq, yq))
    return cross / np.sqrt(np.outer(self_x, self_y))


def matching_accuracy(scores) -> float:
    """Fraction of queries the score-maximising one-to-one assignment pairs with their own partner (the
    diagonal of ``scores`` holds the true pairs)."""
    scores = _as2d(scores)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    return float(np.mean(rows == cols))


def retrieval_at(scores, top: int) -> float:
    """Fraction of rows whose own column (the diagonal) is among its ``top`` highest scores (ties count
    against: a partner tied with others ranks below them)."""
    scores = _as2d(scores)
    own = np.diag(scores)
    better = (scores > own[:, None]).sum(1) + (scores == own[:, None]).sum(1) - 1
    return float(np.mean(better < top))
