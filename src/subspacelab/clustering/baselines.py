"""Classical clustering baselines, each ``fit(X, n_clusters, seed, **hyperparameters) -> labels``.

``X`` is (N, D), one point per row (the scikit-learn convention; sparse is fine for k-means and
spectral clustering). Labels are ints in [0, n_clusters).

Self-expressive methods write every point as a combination of the others. With Y = Xᵀ (D x N, one point
per column) they find a coefficient matrix C (N x N) with Y ≈ Y C, column j holding the coefficients of
x_j, then run spectral clustering on the affinity W = |C| + |C|ᵀ:

- SSC (Elhamifar & Vidal, TPAMI 2013), noisy, linear (non-affine) version:
  min ||C||_1 + (λ/2)||Y − Y C||_F² s.t. diag(C) = 0, with λ = α / μ, μ = min_j max_{i≠j} |y_iᵀ y_j|;
  solved by ADMM (``solver="admm"``, the authors' scheme) or column by column as a Lasso (``"cd"``).
- EnSC (You, Li, Robinson & Vidal, CVPR 2016): per column
  min_c ½||y_j − Y c||² + a_j (τ||c||_1 + (1−τ)/2 ||c||²), c_j = 0, with a_j = max_{i≠j}|y_iᵀy_j| / (τ γ)
  (the authors' code's parametrisation), keeping the ``n_nonzero`` largest |c_i|; by the same ADMM as SSC
  (the authors use an active-set solver; any exact solver reaches the same optimum) or per column.
- LSR (Lu et al., ECCV 2012): min ||Y − Y C||_F² + λ||C||_F² ; closed forms, with G = YᵀY:
  C = (G + λI)⁻¹ G (LSR2), or with diag(C) = 0 (LSR1): C_ij = −D_ij / D_jj, C_jj = 0, D = (G + λI)⁻¹.
- LRR (Liu et al., ICML 2010 / TPAMI 2013): min ||C||_* + λ||E||_{2,1} s.t. Y = Y C + E, by the inexact
  augmented Lagrangian method on the row space of Y (as the authors' ``solve_lrr``).
- SSC-OMP (You, Robinson & Vidal, CVPR 2016): per column, orthogonal matching pursuit over the other
  (unit-normalised) points, at most ``n_nonzero`` atoms or until ||residual||² < thr·||y_j||.

Every N x N method takes ``memory_budget_bytes``: past it the call is refused with
:class:`MemoryBudgetExceeded`, whose message names N, the bytes needed and the budget.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp

# How many N x N float64 matrices each self-expressive method holds at its peak (Gram matrix, inverse,
# iterates, multipliers, temporaries, the affinity and scikit-learn's Laplacian copy): the memory model
# behind the budget check, an upper bound on the tracemalloc peaks measured at N = 300-3300 (LRR: when
# rank(Y) ~ N; SSC-OMP: includes its chunked gathers, relatively largest at small N).
DENSE_MATRICES = {"ssc": 12, "ensc": 12, "lsr": 6, "lrr": 12, "ssc_omp": 5}


class MemoryBudgetExceeded(MemoryError):
    """An N x N method was asked to run on more points than the memory budget allows."""


def dense_bytes(method: str, n: int) -> int:
    """Bytes of the N x N float64 matrices ``method`` holds at once (see ``DENSE_MATRICES``)."""
    return DENSE_MATRICES[method] * int(n) * int(n) * 8


def check_memory(method: str, n: int, memory_budget_bytes: float | None) -> None:
    """Refuse (raise) when ``method`` on ``n`` points needs more than ``memory_budget_bytes``."""
    if memory_budget_bytes is None:
        return
    need = dense_bytes(method, n)
    if need > memory_budget_bytes:
        raise MemoryBudgetExceeded(
            f"{method} refused: N = {n} points need about {need / 2**30:.2f} GiB "
            f"({DENSE_MATRICES[method]} x N x N float64 = {need} bytes), over the memory budget of "
            f"{memory_budget_bytes / 2**30:.2f} GiB ({int(memory_budget_bytes)} bytes)"
        )


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)


def _unit_rows(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def spectral_from_affinity(W, n_clusters: int, seed: int, n_init: int = 10) -> np.ndarray:
    """Normalised spectral clustering (scikit-learn: spectral embedding + k-means) of a symmetric
    non-negative affinity (dense or sparse)."""
    from sklearn.cluster import SpectralClustering

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        sc = SpectralClustering(
            n_clusters=n_clusters,
            affinity="precomputed",
            random_state=seed,
            n_init=n_init,
            assign_labels="kmeans",
        )
        return sc.fit_predict(W)


def affinity(C) -> np.ndarray | sp.csr_matrix:
    """W = |C| + |C|ᵀ."""
    if sp.issparse(C):
        A = abs(sp.csr_matrix(C))
        return (A + A.T).tocsr()
    A = np.abs(C)
    return A + A.T


# ----------------------------------------------------------------------------------------------
# methods that need no N x N matrix
# ----------------------------------------------------------------------------------------------
def kmeans(X, n_clusters: int, seed: int, n_init: int = 10, max_iter: int = 300) -> np.ndarray:
    """k-means (Lloyd, k-means++ starts; scikit-learn) on the rows of X."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=n_clusters, n_init=n_init, max_iter=max_iter, random_state=seed).fit_predict(X)


def spectral(X, n_clusters: int, seed: int, n_neighbors: int = 10, n_init: int = 10) -> np.ndarray:
    """Spectral clustering of the symmetrised k-nearest-neighbour graph of the rows of X (scikit-learn)."""
    from sklearn.cluster import SpectralClustering

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        sc = SpectralClustering(
            n_clusters=n_clusters,
            affinity="nearest_neighbors",
            n_neighbors=n_neighbors,
            random_state=seed,
            n_init=n_init,
        )
        return sc.fit_predict(X)


def spectral_graph(adj, X, n_clusters: int, seed: int, n_init: int = 10) -> np.ndarray:
    """Spectral clustering of a graph's own adjacency (attributes ignored): fit(graph, X) form."""
    A = sp.csr_matrix(adj, dtype=np.float64)
    A = ((A + A.T) * 0.5).tocsr()
    return spectral_from_affinity(A, n_clusters, seed, n_init)


# ----------------------------------------------------------------------------------------------
# self-expressive coefficient matrices (column j: coefficients of point j)
# ----------------------------------------------------------------------------------------------
def coherence(G: np.ndarray) -> np.ndarray:
    """max_{i≠j} |G_ij| per column j: the ℓ1 weight above which the Lasso for point j has c = 0."""
    A = np.abs(G).copy()
    np.fill_diagonal(A, 0.0)
    return A.max(axis=0)


def ssc_mu(G: np.ndarray) -> float:
    """μ = min_j max_{i≠j} |G_ij| over the nonzero points (a zero point, e.g. a node with no attributes,
    would make μ = 0 and λ infinite)."""
    coh = coherence(G)[np.diag(G) > 0]
    if coh.size == 0 or coh.min() <= 0:
        raise ValueError("ssc: some nonzero point is orthogonal to all others (μ = 0); λ = α/μ is undefined")
    return float(coh.min())


def admm_self_expression(
    G: np.ndarray, l1, l2, rho: float, max_iter: int = 200, tol: float = 2e-4
) -> np.ndarray:
    """min ½||Y − YZ||_F² + Σ_j (l1_j||C_j||_1 + (l2_j/2)||C_j||²) s.t. Z = C, diag(C) = 0, by ADMM with
    penalty ρ: Z = (G + ρI)⁻¹(G + ρC − Λ); C_j = soft(Z_j + Λ_j/ρ, l1_j/ρ) / (1 + l2_j/ρ), zero diagonal;
    Λ += ρ(Z − C); stop when max|Z − C| < tol (G = YᵀY; ``l1``, ``l2``: scalars or one per point).
    SSC's own form (λ/2 data weight, unit ℓ1 weight, penalty α) is this with l1 = 1/λ, ρ = α/λ.
    The authors' SSC code also zeroes the diagonal of Z after its step; that moves the fixed point off the
    optimum of the stated problem (in our unit test the objective stays ~4% above the per-column Lasso's),
    so the constraint is enforced in the C-step only, where the splitting puts it."""
    n = G.shape[0]
    l1 = np.broadcast_to(np.asarray(l1, dtype=float), (n,))[None, :]
    shrink = 1.0 / (1.0 + np.broadcast_to(np.asarray(l2, dtype=float), (n,))[None, :] / rho)
    A = scipy.linalg.inv(G + rho * np.eye(n))
    AG = A @ G
    C = np.zeros((n, n))
    Lam = np.zeros((n, n))
    for _ in range(max_iter):
        Z = AG + A @ (rho * C - Lam)
        V = Z + Lam / rho
        C = np.sign(V) * np.maximum(np.abs(V) - l1 / rho, 0.0) * shrink
        np.fill_diagonal(C, 0.0)
        Lam += rho * (Z - C)
        if np.max(np.abs(Z - C)) < tol:
            break
    return C


def elastic_net_coefficients(X, l1, l2, max_iter: int = 2000, tol: float = 1e-8) -> np.ndarray:
    """The same problem column by column (a reference solver, O(N) scikit-learn fits):
    c_j = argmin ½||y_j − Y c||² + l1_j||c||_1 + (l2_j/2)||c||², c_j = 0, by coordinate descent with the
    Gram matrix precomputed (the point's own row and column zeroed while it is solved)."""
    from sklearn.linear_model import ElasticNet

    X = _dense(X)
    n, d = X.shape
    l1 = np.broadcast_to(np.asarray(l1, dtype=float), (n,))
    l2 = np.broadcast_to(np.asarray(l2, dtype=float), (n,))
    design = np.asfortranarray(X.T)  # D x N: the atoms are the points
    gram = np.ascontiguousarray(X @ X.T)
    C = np.zeros((n, n))
    for j in range(n):
        if l1[j] + l2[j] <= 0 or not X[j].any():
            continue  # a zero point: c = 0
        y = X[j].copy()
        row = gram[j].copy()
        design[:, j] = 0.0
        gram[j, :] = 0.0
        gram[:, j] = 0.0
        # scikit-learn minimises (1/2D)||y − Aw||² + a ρ||w||_1 + a(1−ρ)/2 ||w||²: ours divided by D
        model = ElasticNet(
            alpha=(l1[j] + l2[j]) / d,
            l1_ratio=l1[j] / (l1[j] + l2[j]),
            fit_intercept=False,
            precompute=gram,
            copy_X=False,
            max_iter=max_iter,
            tol=tol,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Objective did not converge")
            model.fit(design, y, check_input=False)
        C[:, j] = model.coef_
        design[:, j] = y
        gram[j, :] = row
        gram[:, j] = row
    np.fill_diagonal(C, 0.0)
    return C


def ssc_coefficients(
    X, alpha: float = 20.0, solver: str = "admm", max_iter: int = 200, tol: float = 2e-4
) -> np.ndarray:
    """SSC: min ||C||_1 + (λ/2)||Y − YC||² (diag 0), λ = α/μ, as ½||Y − YC||² + (1/λ)||C||_1; by ADMM with
    the SSC code's penalty (ρ = α/λ = μ, ``max_iter``, ``tol``) or per column (``solver="cd"``)."""
    X = _dense(X)
    G = X @ X.T
    mu = ssc_mu(G)
    lam = alpha / mu
    if solver == "admm":
        return admm_self_expression(G, 1.0 / lam, 0.0, rho=mu, max_iter=max_iter, tol=tol)
    if solver == "cd":
        return elastic_net_coefficients(X, 1.0 / lam, 0.0)
    raise ValueError(f"solver: 'admm' or 'cd', got {solver!r}")


def ensc_coefficients(
    X,
    gamma: float = 50.0,
    tau: float = 0.9,
    n_nonzero: int = 50,
    solver: str = "admm",
    max_iter: int = 200,
    tol: float = 2e-4,
) -> np.ndarray:
    """EnSC (module doc): l1_j = τ a_j, l2_j = (1 − τ) a_j, a_j = coh_j/(τγ); ADMM with ρ = mean_j coh_j
    (SSC's choice, penalty = ℓ1 weight x γ, averaged over points) or per column (``solver="cd"``); then
    the ``n_nonzero`` largest |c_i| of each column are kept."""
    X = _dense(X)
    G = X @ X.T
    coh = coherence(G)
    a = coh / (tau * gamma)
    if solver == "admm":
        C = admm_self_expression(
            G, tau * a, (1.0 - tau) * a, rho=float(coh[coh > 0].mean()), max_iter=max_iter, tol=tol
        )
    elif solver == "cd":
        C = elastic_net_coefficients(X, tau * a, (1.0 - tau) * a)
    else:
        raise ValueError(f"solver: 'admm' or 'cd', got {solver!r}")
    if n_nonzero and n_nonzero < C.shape[0]:
        drop = np.argsort(-np.abs(C), axis=0, kind="stable")[n_nonzero:]
        np.put_along_axis(C, drop, 0.0, axis=0)
    return C


def lsr_coefficients(X, lam: float = 0.1, zero_diagonal: bool = False) -> np.ndarray:
    """LSR closed forms (module doc): LSR2 (``zero_diagonal=False``) or LSR1."""
    X = _dense(X)
    n = X.shape[0]
    G = X @ X.T
    M = G + lam * np.eye(n)
    if not zero_diagonal:
        return scipy.linalg.solve(M, G, assume_a="pos")
    D = scipy.linalg.inv(M)
    C = -D / np.diag(D)[None, :]
    np.fill_diagonal(C, 0.0)
    return C


def lrr_coefficients(
    X,
    lam: float = 4.0,
    tol: float = 1e-8,
    max_iter: int = 1000,
    rho: float = 1.1,
    mu: float = 1e-6,
    max_mu: float = 1e10,
) -> tuple[np.ndarray, int]:
    """LRR by inexact ALM (min ||J||_* + λ||E||_{2,1}, Y = B Z + E, Z = J) with the dictionary B = Y Q,
    Q an orthonormal basis of the row space of Y (so each SVD is r x N, r = rank Y); returns (Q Z, iterations).
    Updates: J = SVT_{1/μ}(Z + Λ2/μ); Z = (BᵀB + I)⁻¹(BᵀY − BᵀE + J + (BᵀΛ1 − Λ2)/μ);
    E = column shrink_{λ/μ}(Y − BZ + Λ1/μ); multipliers += μ·residuals; μ ← min(ρμ, μ_max)."""
    Y = _dense(X).T  # D x N
    Q = scipy.linalg.orth(Y.T)  # N x r
    B = Y @ Q  # D x r
    r, n = Q.shape[1], Y.shape[1]
    inv_a = scipy.linalg.inv(B.T @ B + np.eye(r))
    btx = B.T @ Y
    J = np.zeros((r, n))
    Z = np.zeros((r, n))
    E = np.zeros_like(Y)
    L1 = np.zeros_like(Y)
    L2 = np.zeros((r, n))
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        U, s, Vt = scipy.linalg.svd(Z + L2 / mu, full_matrices=False, lapack_driver="gesdd")
        keep = s > 1.0 / mu
        J = (U[:, keep] * (s[keep] - 1.0 / mu)) @ Vt[keep] if keep.any() else np.zeros((r, n))
        Z = inv_a @ (btx - B.T @ E + J + (B.T @ L1 - L2) / mu)
        resid = Y - B @ Z
        T = resid + L1 / mu
        norms = np.linalg.norm(T, axis=0)
        scale = np.where(norms > lam / mu, (norms - lam / mu) / np.where(norms > 0, norms, 1.0), 0.0)
        E = T * scale
        leq1, leq2 = resid - E, Z - J
        if max(np.abs(leq1).max(), np.abs(leq2).max()) < tol:
            break
        L1 += mu * leq1
        L2 += mu * leq2
        mu = min(max_mu, mu * rho)
    return Q @ Z, it


def omp_coefficients(X, n_nonzero: int = 10, thr: float = 1e-6, chunk: int = 256) -> sp.csc_matrix:
    """SSC-OMP coefficients (sparse, column j for point j) of the unit-normalised rows of X, computed in
    Gram form for ``chunk`` points at a time: pick the atom most correlated with the residual (never the
    point itself), refit least squares on the support, stop at ``n_nonzero`` atoms or ||r||² < thr."""
    Xn = _unit_rows(_dense(X))
    n = Xn.shape[0]
    G = Xn @ Xn.T
    rows, cols, vals = [], [], []
    k = min(n_nonzero, n - 1)
    chunk = max(1, min(chunk, n // max(k, 1)))  # the (chunk, k, N) gathers stay below one N x N matrix
    for start in range(0, n, chunk):
        J = np.arange(start, min(n, start + chunk))
        sq = G[J, J]
        stop = sq * thr
        supp = np.empty((J.size, 0), dtype=int)
        coef = np.zeros((J.size, 0))
        corr = G[J].copy()  # Yᵀ r for r = y_j
        live = np.ones(J.size, dtype=bool)
        done_supp: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for t in range(k):
            idx = np.flatnonzero(live)
            if idx.size == 0:
                break
            score = np.abs(corr[idx])
            score[np.arange(idx.size), J[idx]] = -1.0
            if t:
                np.put_along_axis(score, supp[idx], -1.0, axis=1)
            new = np.argmax(score, axis=1)
            S = np.concatenate([supp[idx], new[:, None]], axis=1)
            Gs = G[S[:, :, None], S[:, None, :]] + 1e-12 * np.eye(t + 1)
            rhs = G[S, J[idx, None]]
            c = np.linalg.solve(Gs, rhs[..., None])[..., 0]
            supp = np.zeros((J.size, t + 1), dtype=int)
            coef = np.zeros((J.size, t + 1))
            supp[idx], coef[idx] = S, c
            corr[idx] = G[J[idx]] - np.einsum("bt,btn->bn", c, G[S])
            res = sq[idx] - np.einsum("bt,bt->b", c, rhs)
            finished = (res < stop[idx]) | (t == k - 1)
            for b in idx[finished]:
                done_supp[int(b)] = (supp[b].copy(), coef[b].copy())
            live[idx[finished]] = False
        for b, (s_b, c_b) in done_supp.items():
            rows += list(s_b)
            cols += [int(J[b])] * len(s_b)
            vals += list(c_b)
    return sp.csc_matrix((vals, (rows, cols)), shape=(n, n))


# ----------------------------------------------------------------------------------------------
# fit(X, n_clusters, seed, **hyperparameters) -> labels
# ----------------------------------------------------------------------------------------------
def ssc(
    X,
    n_clusters: int,
    seed: int,
    alpha: float = 20.0,
    solver: str = "admm",
    max_iter: int = 200,
    tol: float = 2e-4,
    memory_budget_bytes: float | None = None,
) -> np.ndarray:
    check_memory("ssc", X.shape[0], memory_budget_bytes)
    C = ssc_coefficients(X, alpha=alpha, solver=solver, max_iter=max_iter, tol=tol)
    return spectral_from_affinity(affinity(C), n_clusters, seed)


def ensc(
    X,
    n_clusters: int,
    seed: int,
    gamma: float = 50.0,
    tau: float = 0.9,
    n_nonzero: int = 50,
    solver: str = "admm",
    max_iter: int = 200,
    tol: float = 2e-4,
    memory_budget_bytes: float | None = None,
) -> np.ndarray:
    check_memory("ensc", X.shape[0], memory_budget_bytes)
    C = ensc_coefficients(
        X, gamma=gamma, tau=tau, n_nonzero=n_nonzero, solver=solver, max_iter=max_iter, tol=tol
    )
    return spectral_from_affinity(affinity(C), n_clusters, seed)


def lsr(
    X,
    n_clusters: int,
    seed: int,
    lam: float = 0.1,
    zero_diagonal: bool = False,
    memory_budget_bytes: float | None = None,
) -> np.ndarray:
    check_memory("lsr", X.shape[0], memory_budget_bytes)
    C = lsr_coefficients(X, lam=lam, zero_diagonal=zero_diagonal)
    return spectral_from_affinity(affinity(C), n_clusters, seed)


def lrr(
    X,
    n_clusters: int,
    seed: int,
    lam: float = 4.0,
    tol: float = 1e-8,
    max_iter: int = 1000,
    memory_budget_bytes: float | None = None,
) -> np.ndarray:
    check_memory("lrr", X.shape[0], memory_budget_bytes)
    C, _ = lrr_coefficients(X, lam=lam, tol=tol, max_iter=max_iter)
    return spectral_from_affinity(affinity(C), n_clusters, seed)


def ssc_omp(
    X,
    n_clusters: int,
    seed: int,
    n_nonzero: int = 10,
    thr: float = 1e-6,
    memory_budget_bytes: float | None = None,
) -> np.ndarray:
    check_memory("ssc_omp", X.shape[0], memory_budget_bytes)
    C = omp_coefficients(X, n_nonzero=n_nonzero, thr=thr)
    return spectral_from_affinity(affinity(C), n_clusters, seed)


METHODS = {
    "kmeans": kmeans,
    "spectral": spectral,
    "ssc": ssc,
    "ensc": ensc,
    "lsr": lsr,
    "lrr": lrr,
    "ssc_omp": ssc_omp,
}
GRAPH_METHODS = {"spectral_graph": spectral_graph}
