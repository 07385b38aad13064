"""S2CAG and M-S2CAG (Lin, Yang, Zheng & Ke, "Spectral Subspace Clustering for Attributed Graphs",
KDD 2025, arXiv:2411.11074), step by step as in the official code (HKBU-LAGAS/S2CAG, ``src/utils.py``
``preprocess_dataset``/``PowerIteration``/``run_SSCAG`` and ``src/func.py``).

Inputs: the adjacency A (n x n) and the attributes X (n x d) after TF-IDF + row ℓ2 normalisation
(``tfidf``). Steps, with k clusters:

1. ``normalized_adjacency``: P = rownorm(D̃^{-1/2}(A + I)D̃^{-1/2} + I), D̃ = diag((A + I)1): self-loops
   are added twice, as the code does (once before the symmetric, once before the row normalisation).
2. ``attribute_normalize``: X ← diag(X Xᵀ 1)^{-1/2} X (a zero entry is replaced by 1).
3. ``propagate`` (the code's ``PowerIteration``): F_0 = X, F_{t+1} = α(P F_t + X) for t < T, Z = c F_T with
   c = (1 − α)/(1 − α^{T+1}) (c = T when α = 1). Unrolled, F_T = α Σ_{t<T} α^t P^t X + α^T P^T X — not
   exactly Σ_{t≤T} α^t P^t X as the paper notes' formula reads; the code wins here.
4. S2CAG: the top k+1 left singular vectors of Z by randomised SVD (k + 10 Gaussian test vectors drawn
   from ``RandomState(seed)``, τ power iterations with no re-orthonormalisation in between, QR, SVD of the
   small matrix, scikit-learn's ``svd_flip`` signs), dropping the first: Q (n x k). The code forms Z
   (``randomized_left_singular_vectors``) or never forms it (``implicit_randomized_svd``: products with
   Z̃ = c Σ_{t≤T} α^t P^t X and its transpose by T propagation steps each); ``choose_path`` takes the
   cheaper by the code's cost model: explicit iff m d T + 2(τ+1) n d (k+10) < 2(τ+1)(n d + m T)(k+10)
   (i.e. d < 2(τ+1)(k+10)), m = nnz(P). The two paths differ slightly (Z vs Z̃), as in the code.
5. M-S2CAG: Z' = diag(√max(Z1, 0)) Z, d = Z' Z'ᵀ 1; τ steps of orthogonal iteration
   Q ← qr((Z'Z'ᵀ − γ d dᵀ / 1ᵀd) Q) from a Gaussian Q (``RandomState(seed)``), never forming the n x n
   matrix: ``modularity_subspace_iteration``. Q (n x k), nothing dropped.
6. ``snem_rounding``: labels = argmax_row Q; repeat 100 times: Y = onehot(labels)·diag(1/√|cluster|)
   (an empty cluster's scale is 1), labels = argmax_row Q (Qᵀ Y).

The official code always seeds with 0 (``random_state=0``), so its "5 runs" are one computation repeated;
here ``seed`` is the seed of both random draws and seed 0 gives the code's draws.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

OVERSAMPLES = 10


# ----------------------------------------------------------------------------------------------
# preprocessing
# ----------------------------------------------------------------------------------------------
def tfidf(features) -> sp.csr_matrix:
    """TF-IDF (scikit-learn's ``TfidfTransformer``: smooth idf, raw tf) with rows ℓ2-normalised, as the code."""
    from sklearn.feature_extraction.text import TfidfTransformer

    return sp.csr_matrix(TfidfTransformer(norm="l2").fit_transform(sp.csr_matrix(features, dtype=np.float64)))


def normalized_adjacency(adj) -> sp.csr_matrix:
    """P = rownorm(D̃^{-1/2}(A + I)D̃^{-1/2} + I) (step 1 of the module doc)."""
    A = sp.csr_matrix(adj, dtype=np.float64)
    n = A.shape[0]
    A = A + sp.identity(n, format="csr")
    deg = np.asarray(A.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        dinv = np.where(deg > 0, deg**-0.5, 0.0)
    S = sp.diags(dinv) @ A @ sp.diags(dinv) + sp.identity(n, format="csr")
    row = np.asarray(S.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        rinv = np.where(row != 0, 1.0 / row, 0.0)
    return sp.csr_matrix(sp.diags(rinv) @ S)


def attribute_normalize(X):
    """X ← diag(X Xᵀ 1)^{-1/2} X, computed as X (Xᵀ 1) (a zero degree counts as 1)."""
    colsum = np.asarray(X.sum(axis=0)).ravel()
    deg = np.asarray(X @ colsum).ravel()
    deg[deg == 0] = 1.0
    scale = 1.0 / np.sqrt(deg)
    return sp.csr_matrix(sp.diags(scale) @ X) if sp.issparse(X) else X * scale[:, None]


def propagation_factor(T: int, alpha: float) -> float:
    """c = (1 − α)/(1 − α^{T+1}), or T when α = 1 (the code's normalising factor)."""
    return float(T) if alpha == 1.0 else (1.0 - alpha) / (1.0 - alpha ** (T + 1))


def propagate(X, P, T: int, alpha: float) -> np.ndarray:
    """The code's ``PowerIteration``: F ← α(P F + X) T times from F = X, then Z = c F (module doc, step 3)."""
    X0 = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    F = X0.copy()
    for _ in range(T):
        F = alpha * (P @ F + X0)
    return propagation_factor(T, alpha) * F


def series_propagate(X, P, T: int, alpha: float, transpose: bool = False) -> np.ndarray:
    """c Σ_{t≤T} α^t P^t X (or with Pᵀ): the operator the implicit path applies, via F ← α P F + F_0."""
    Pm = P.T if transpose else P
    F0 = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    F = F0
    for _ in range(T):
        F = alpha * (Pm @ F) + F0
    return propagation_factor(T, alpha) * F


# ----------------------------------------------------------------------------------------------
# S2CAG: top-(k+1) left singular subspace of Z, first vector dropped
# ----------------------------------------------------------------------------------------------
def _flip_and_drop(Qb: np.ndarray, B: np.ndarray, k: int) -> np.ndarray:
    """SVD of the small matrix B = Qbᵀ Z; U = Qb Û with scikit-learn's svd_flip signs; columns 1..k."""
    from sklearn.utils.extmath import svd_flip

    Uhat, _, Vt = scipy.linalg.svd(B, full_matrices=False, lapack_driver="gesdd")
    U, _ = svd_flip(Qb @ Uhat, Vt)
    return U[:, 1 : k + 1]


def randomized_left_singular_vectors(
    Z, k: int, n_iter: int, seed: int = 0, oversamples: int = OVERSAMPLES
) -> np.ndarray:
    """The code's ``sub_randomized_svd`` on an explicit Z: G ~ N(0,1)^{d x (k+p)} from RandomState(seed),
    Y = (Z Zᵀ)^{n_iter} Z G (no re-orthonormalisation), Q = qr(Y), SVD of Qᵀ Z; returns U[:, 1:k+1]."""
    G = np.random.RandomState(seed).normal(size=(Z.shape[1], k + oversamples))
    Y = G
    for _ in range(n_iter):
        Y = Z.T @ (Z @ Y)
    Y = Z @ Y
    Qb, _ = scipy.linalg.qr(np.asarray(Y), mode="economic")
    B = np.asarray(Z.T @ Qb).T
    return _flip_and_drop(Qb, B, k)


def implicit_randomized_svd(
    P, X, k: int, n_iter: int, T: int, alpha: float, seed: int = 0, oversamples: int = OVERSAMPLES
) -> np.ndarray:
    """The code's ``subspace_svd``: the same randomised SVD for Z̃ = c Σ_{t≤T} α^t P^t X, applied by
    propagation (Z̃ G = series(X G), Z̃ᵀ Y = Xᵀ series_ᵀ(Y)); Z̃ is never formed."""
    G = np.random.RandomState(seed).normal(size=(X.shape[1], k + oversamples))
    Y = G
    for _ in range(n_iter):
        Y = series_propagate(X @ Y, P, T, alpha)
        Y = X.T @ series_propagate(Y, P, T, alpha, transpose=True)
    Y = series_propagate(X @ Y, P, T, alpha)
    Qb, _ = scipy.linalg.qr(np.asarray(Y), mode="economic")
    B = np.asarray(X.T @ series_propagate(Qb, P, T, alpha, transpose=True)).T
    return _flip_and_drop(Qb, B, k)


def choose_path(n: int, d: int, m: int, k: int, T: int, tau: int) -> tuple[str, dict]:
    """The code's cost model: 'explicit' (form Z, then randomised SVD) when cheaper, else 'implicit'."""
    p = k + OVERSAMPLES
    integr = m * d * T + 2 * (tau + 1) * n * d * p + 3 * n * p**2
    naive = 2 * (tau + 1) * (n * d + m * T) * p + 3 * n * p**2
    return ("explicit" if integr < naive else "implicit"), {"explicit_cost": integr, "implicit_cost": naive}


# ----------------------------------------------------------------------------------------------
# M-S2CAG: orthogonal iteration on the modularity-like matrix, never formed
# ----------------------------------------------------------------------------------------------
def row_degree_scale(Z):
    """The code's ``adapt``: Z' = diag(√max(Z1, 0)) Z."""
    r = np.asarray(Z.sum(axis=1)).ravel()
    s = np.sqrt(np.maximum(r, 0.0))
    return sp.csr_matrix(sp.diags(s) @ Z) if sp.issparse(Z) else Z * s[:, None]


def modularity_matvec(Z, Q: np.ndarray, gamma: float, dvec: np.ndarray | None = None) -> np.ndarray:
    """B Q = Z Zᵀ Q − γ d (dᵀ Q) / 1ᵀd with d = Z Zᵀ 1, in O(nnz(Z)·k)."""
    if dvec is None:
        dvec = np.asarray(Z @ np.asarray(Z.T @ np.ones(Z.shape[0])).ravel()).ravel()
    AQ = np.asarray(Z @ np.asarray(Z.T @ Q))
    return AQ - gamma * np.outer(dvec, dvec @ Q) / dvec.sum()


def modularity_subspace_iteration(Z, k: int, tau: int, gamma: float, seed: int = 0) -> np.ndarray:
    """The code's ``KSI_decompose_B`` (after ``adapt``): Q_0 = qr(N(0,1)^{n x k}), Q ← qr(B Q) τ times."""
    Z = row_degree_scale(Z)
    n = Z.shape[0]
    Q, _ = scipy.linalg.qr(np.random.RandomState(seed).normal(size=(n, k)), mode="economic")
    dvec = np.asarray(Z @ np.asarray(Z.T @ np.ones(n)).ravel()).ravel()
    for _ in range(tau):
        Q, _ = scipy.linalg.qr(modularity_matvec(Z, Q, gamma, dvec), mode="economic")
    return Q


# ----------------------------------------------------------------------------------------------
# rounding
# ----------------------------------------------------------------------------------------------
def _scaled_indicator(labels: np.ndarray, k: int) -> sp.csc_matrix:
    n = labels.size
    counts = np.bincount(labels, minlength=k).astype(float)
    scale = 1.0 / np.sqrt(np.where(counts > 0, counts, 1.0))
    return sp.csc_matrix((scale[labels], (np.arange(n), labels)), shape=(n, k))


def snem_rounding(Q: np.ndarray, n_iter: int = 100) -> np.ndarray:
    """The code's ``SNEM_rounding`` (module doc, step 6); ties go to the lowest column, as numpy's argmax."""
    Q = np.asarray(Q, dtype=np.float64)
    k = Q.shape[1]
    labels = Q.argmax(axis=1)
    for _ in range(n_iter):
        R = np.asarray((_scaled_indicator(labels, k).T @ Q).T)  # Qᵀ Y, k x k
        labels = (Q @ R).argmax(axis=1)
    return labels


def round_embedding(Q: np.ndarray, n_clusters: int, seed: int, rounding: str = "snem") -> np.ndarray:
    if rounding == "snem":
        return snem_rounding(Q)
    if rounding == "kmeans":  # an ablation: the usual spectral-clustering rounding
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(Q)
    raise ValueError(f"rounding: 'snem' or 'kmeans', got {rounding!r}")


# ----------------------------------------------------------------------------------------------
# fit(graph, X, n_clusters, seed, **hyperparameters) -> labels
# ----------------------------------------------------------------------------------------------
def s2cag_embedding(
    adj, X, n_clusters: int, seed: int = 0, T: int = 10, alpha: float = 0.9, tau: int = 7, path: str = "auto"
) -> tuple[np.ndarray, str]:
    """Q (n x k) of S2CAG and the path used. ``X``: TF-IDF attributes (dense, as the code, or sparse)."""
    P = normalized_adjacency(adj)
    Xn = attribute_normalize(X)
    n, d = Xn.shape
    if path == "auto":
        path, _ = choose_path(n, d, P.nnz, n_clusters, T, tau)
    if path == "explicit":
        Q = randomized_left_singular_vectors(propagate(Xn, P, T, alpha), n_clusters, tau, seed)
    elif path == "implicit":
        Q = implicit_randomized_svd(P, Xn, n_clusters, tau, T, alpha, seed)
    else:
        raise ValueError(f"path: 'auto', 'explicit' or 'implicit', got {path!r}")
    return Q, path


def s2cag(
    adj,
    X,
    n_clusters: int,
    seed: int = 0,
    T: int = 10,
    alpha: float = 0.9,
    tau: int = 7,
    path: str = "auto",
    rounding: str = "snem",
) -> np.ndarray:
    """S2CAG labels (run.py ``--method sub``)."""
    Q, _ = s2cag_embedding(adj, X, n_clusters, seed, T, alpha, tau, path)
    return round_embedding(Q, n_clusters, seed, rounding)


def m_s2cag_embedding(
    adj, X, n_clusters: int, seed: int = 0, T: int = 10, alpha: float = 0.9, gamma: float = 0.9, tau: int = 50
) -> np.ndarray:
    """Q (n x k) of M-S2CAG: explicit Z (dense, as the code), then the modularity orthogonal iteration."""
    P = normalized_adjacency(adj)
    Z = propagate(attribute_normalize(X), P, T, alpha)
    return modularity_subspace_iteration(Z, n_clusters, tau, gamma, seed)


def m_s2cag(
    adj,
    X,
    n_clusters: int,
    seed: int = 0,
    T: int = 10,
    alpha: float = 0.9,
    gamma: float = 0.9,
    tau: int = 50,
    rounding: str = "snem",
) -> np.ndarray:
    """M-S2CAG labels (run.py ``--method mod``)."""
    Q = m_s2cag_embedding(adj, X, n_clusters, seed, T, alpha, gamma, tau)
    return round_embedding(Q, n_clusters, seed, rounding)


GRAPH_METHODS = {"s2cag": s2cag, "m_s2cag": m_s2cag}
