"""ℓp sensitivities, Lewis weights and ℓp sensitivity sampling (Woodruff & Yasuda, "Sharper Bounds
for ℓp Sensitivity Sampling", ICML 2023, arXiv:2306.00732).

Notation (paper, Section 1, Definition of ℓp sensitivities): for ``A`` (n x d) and ``p >= 1``

    σ_i = sup_{Ax != 0} |a_iᵀx|^p / ‖Ax‖_p^p,        𝔖 = Σ_i σ_i  (total sensitivity).

``σ_i = 1 / min{‖Ax‖_p^p : a_iᵀx = 1}``, one convex program per row. For p = 2 the σ_i are the
leverage scores and 𝔖 = rank(A). Known bounds (paper Section 4, "Properties of ℓp sensitivities",
and the Lewis-weight comparison of Chen–Derezinski quoted in the paper's footnote):
``d^{min(1,p/2)} <= 𝔖 <= d^{max(1,p/2)}``; row-wise ``d^{p/2-1} w_i <= σ_i <= w_i`` for p < 2 and
``w_i <= σ_i <= d^{p/2-1} w_i`` for p > 2, with ``w`` the ℓp Lewis weights.

Sampling (paper Section 1, sensitivity sampling): row i is kept independently with probability
``q_i = min(1, α s_i)`` for importance scores ``s`` and rescaled by ``q_i^{-1/p}``, so that
``‖SAx‖_p^p = Σ_{i kept} |a_iᵀx|^p / q_i`` is an unbiased estimate of ``‖Ax‖_p^p``. The paper bounds
the expected number of rows ``m = Σ q_i`` needed for ``‖SAx‖_p^p = (1 ± ε)‖Ax‖_p^p`` for all x:
roughly 𝔖^{2/p} (1 <= p < 2) and 𝔖^{2-2/p} (p > 2) for sensitivity scores, against the general 𝔖·d.

Everything here is plain numpy/scipy on small dense matrices, vectorised over rows / samples.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linprog

SCHEMES = (
    "uniform",
    "leverage",
    "sensitivity",
    "root_leverage",
    "leverage_sensitivity",
    "augmented",
    "lewis",
)


# --------------------------------------------------------------------------------------------------
# leverage scores, sensitivities, Lewis weights
# --------------------------------------------------------------------------------------------------
def leverage_scores(A: np.ndarray) -> np.ndarray:
    """ℓ2 leverage scores τ_i = a_iᵀ(AᵀA)^+ a_i (squared row norms of an orthonormal basis of range(A))."""
    A = np.asarray(A, dtype=float)
    U, s, _ = np.linalg.svd(A, full_matrices=False)
    r = int(np.sum(s > s[0] * max(A.shape) * np.finfo(float).eps)) if s.size and s[0] > 0 else 0
    return np.sum(U[:, :r] ** 2, axis=1)


def abs_power(R: np.ndarray, p: float, absolute: bool = False) -> np.ndarray:
    """``|R|^p`` elementwise (``R`` already non-negative when ``absolute``). Integer and half-integer
    p use products and one square root, which is several times faster than ``np.power``."""
    X = R if absolute else np.abs(R)
    if p == 0:
        return np.ones_like(X)
    k2 = 2 * p
    if k2 == int(k2) and 0 < p <= 8:
        whole = int(p)
        half = np.sqrt(X) if k2 % 2 else None
        if whole == 0:
            return half
        acc = X * X if whole >= 2 else X
        for _ in range(whole - 2):
            acc *= X
        if half is None:
            return acc if whole >= 2 else X.copy()
        half *= acc
        return half
    with np.errstate(divide="ignore"):
        return np.power(X, p)


def lp_power_norm(R: np.ndarray, p: float, axis: int = 0) -> np.ndarray:
    """``Σ |r|^p`` along ``axis`` (the p-th power of the ℓp norm)."""
    return np.sum(abs_power(R, p), axis=axis)


def _l2_constrained_start(A: np.ndarray) -> np.ndarray:
    """Column i: argmin ‖Ax‖_2 s.t. a_iᵀx = 1, i.e. G⁻¹a_i / (a_iᵀG⁻¹a_i) with G = AᵀA (d x n)."""
    G = A.T @ A
    Z = np.linalg.solve(G, A.T)  # d x n, column i = G^{-1} a_i
    lev = np.einsum("ij,ji->i", A, Z)  # a_iᵀ G^{-1} a_i
    return Z / lev[None, :]


def sensitivity_minimizers(
    A: np.ndarray, p: float, tol: float = 1e-12, max_iter: int = 100, floor: float = 1e-9
) -> tuple[np.ndarray, np.ndarray, int]:
    """Solve ``min_x ‖Ax‖_p^p s.t. a_iᵀx = 1`` for every row i at once (p > 1).

    Damped Newton on the equality-constrained convex problem, all n problems vectorised: the step
    solves the KKT system ``[H a_i; a_iᵀ 0]`` (H = p(p-1) Aᵀ diag|Ax|^{p-2} A, obtained from one
    GEMM for all i) from the ℓ2 solution as feasible start; Armijo backtracking keeps a_iᵀx = 1.
    For p < 2 the Hessian weights |r|^{p-2} are evaluated at ``max(|r|, floor·max|r|)`` (the
    objective is exact, only the Newton model is regularised). Stops when the Newton decrement
    relative to the objective is below ``tol`` for every row.
    Returns (X d x n with the minimisers as columns, f n with the minimal values, iterations).
    """
    if p <= 1:
        raise ValueError("sensitivity_minimizers needs p > 1; use lp1_sensitivities for p = 1")
    A = np.asarray(A, dtype=float)
    n, d = A.shape
    X = _l2_constrained_start(A)
    outer = (A[:, :, None] * A[:, None, :]).reshape(n, d * d)  # row j: vec(a_j a_jᵀ)
    R = A @ X  # n x n, column i = A x_i
    f = lp_power_norm(R, p)
    iters = 0
    while iters < max_iter:
        iters += 1
        absR = np.abs(R)
        g = p * (A.T @ (np.sign(R) * abs_power(absR, p - 1, True)))  # d x n gradients
        if p < 2:
            scale = absR.max(axis=0, keepdims=True)
            wts = 1.0 / abs_power(np.maximum(absR, floor * scale), 2 - p, True)
        else:
            wts = abs_power(absR, p - 2, True)
        H = (wts.T @ outer).reshape(n, d, d) * (p * (p - 1))
        H += np.eye(d)[None] * (1e-14 * np.trace(H, axis1=1, axis2=2)[:, None, None] / d)
        rhs = np.stack([g.T, A], axis=2)  # n x d x 2: [g_i, a_i]
        sol = np.linalg.solve(H, rhs)
        u, v = sol[..., 0], sol[..., 1]  # H^{-1} g_i, H^{-1} a_i
        lam = np.sum(A * u, axis=1) / np.sum(A * v, axis=1)
        dX = (-u + v * lam[:, None]).T  # d x n, a_iᵀ dx_i = 0
        decrement = -np.sum(g * dX, axis=0)  # >= 0 (Newton decrement squared)
        active = decrement > tol * f
        if not np.any(active):
            break
        t = np.ones(n)
        todo = active.copy()
        # accepted columns leave ``todo`` and are never read again: update X, R, f in place
        for _ in range(40):
            idx = np.flatnonzero(todo)
            if idx.size == 0:
                break
            Xc = X[:, idx] + dX[:, idx] * t[idx]
            Rc = A @ Xc
            fc = lp_power_norm(Rc, p)
            ok = fc <= f[idx] - 0.25 * t[idx] * decrement[idx]
            good = idx[ok]
            X[:, good], R[:, good], f[good] = Xc[:, ok], Rc[:, ok], fc[ok]
            todo[good] = False
            t[idx[~ok]] *= 0.5
        # rows whose line search failed (step below rounding) are converged to machine precision
    # re-impose the constraint exactly (rounding drift) before reporting
    c = np.sum(A * X.T, axis=1)
    X = X / c[None, :]
    f = lp_power_norm(A @ X, p)
    return X, f, iters


def lp1_sensitivities(A: np.ndarray) -> np.ndarray:
    """Exact ℓ1 sensitivities: one linear program per row, ``min Σt s.t. -t <= Ax <= t, a_iᵀx = 1``
    (scipy HiGHS). Slow (n LPs): meant for small matrices and p = 1 only."""
    A = np.asarray(A, dtype=float)
    n, d = A.shape
    c = np.concatenate([np.zeros(d), np.ones(n)])
    eye_n = np.eye(n)
    A_ub = np.block([[A, -eye_n], [-A, -eye_n]])
    b_ub = np.zeros(2 * n)
    bounds = [(None, None)] * d + [(0, None)] * n
    out = np.empty(n)
    for i in range(n):
        A_eq = np.concatenate([A[i], np.zeros(n)])[None, :]
        res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=bounds, method="highs")
        if res.status != 0:
            raise RuntimeError(f"LP for row {i} failed: {res.message}")
        out[i] = 1.0 / res.fun
    return out


def lp_sensitivities(A: np.ndarray, p: float, **kw) -> np.ndarray:
    """Exact ℓp sensitivities σ_i = 1 / min{‖Ax‖_p^p : a_iᵀx = 1} (paper Section 1 definition).
    p = 2: leverage scores (closed form); p = 1: per-row LPs; otherwise vectorised Newton."""
    A = np.asarray(A, dtype=float)
    if p == 2:
        return leverage_scores(A)
    if p == 1:
        return lp1_sensitivities(A)
    _, f, _ = sensitivity_minimizers(A, p, **kw)
    return np.minimum(1.0, 1.0 / f)


def lewis_weights(A: np.ndarray, p: float, tol: float = 1e-12, max_iter: int = 2000) -> np.ndarray:
    """ℓp Lewis weights: the fixed point ``w_i = (a_iᵀ (Aᵀ W^{1-2/p} A)^{-1} a_i)^{p/2}`` (Σ w_i = d).

    Iteration of Cohen & Peng (contraction for p < 4), in log space with damping ``β = 2/p`` for
    p >= 4 [reconstructed: the undamped map is not a contraction there; its Jacobian in log space
    is -(p/2-1)K with K row-stochastic with eigenvalues in [0, 1], so β = 2/p makes it one].
    """
    A = np.asarray(A, dtype=float)
    n, d = A.shape
    beta = 1.0 if p < 4 else 2.0 / p
    w = np.full(n, d / n)
    for _ in range(max_iter):
        Tw = _lewis_map(A, p, w)
        w_new = np.exp((1 - beta) * np.log(w) + beta * np.log(Tw))
        if np.max(np.abs(w_new - w) / w_new) < tol:
            return w_new
        w = w_new
    return w


def _lewis_map(A: np.ndarray, p: float, w: np.ndarray) -> np.ndarray:
    """``(a_iᵀ (Aᵀ W^{1-2/p} A)^{-1} a_i)^{p/2}`` for every row."""
    M = A.T @ (A * (w ** (1 - 2 / p))[:, None])
    quad = np.einsum("ij,ji->i", A, np.linalg.solve(M, A.T))
    return np.maximum(quad, 1e-300) ** (p / 2)


def lewis_residual(A: np.ndarray, p: float, w: np.ndarray) -> float:
    """max_i |T(w)_i - w_i| / w_i: how far ``w`` is from the Lewis fixed point."""
    return float(np.max(np.abs(_lewis_map(A, p, w) - w) / w))


# --------------------------------------------------------------------------------------------------
# sampling schemes
# --------------------------------------------------------------------------------------------------
def scheme_scores(
    scheme: str, p: float, sens: np.ndarray, lev: np.ndarray, lewis: np.ndarray | None = None
) -> np.ndarray:
    """Importance scores ``s_i`` of a sampling scheme (probabilities are ``min(1, α s_i)``).

    - ``uniform``: 1; ``leverage``: ℓ2 leverage τ_i; ``sensitivity``: σ_i (the paper's scheme);
    - ``root_leverage``: τ_i^{p/2} (for p = 1 the square root of the leverage scores) — the
      paper's "root leverage score sampling" for 1 <= p < 2 [reconstructed: exponent p/2 read from
      the scheme's name and the Lewis-weight analogy; the exact statement was not retrievable];
    - ``leverage_sensitivity``: τ_i^{2/p} σ_i^{1-2/p}, the paper's combination of leverage and
      sensitivity sampling for p > 2 [reconstructed: by Hölder Σ τ^{2/p} σ^{1-2/p} <= d^{2/p} 𝔖^{1-2/p},
      which with oversampling 𝔖^{1-2/p} gives the paper's d^{2/p}𝔖^{2-4/p}];
    - ``augmented``: σ_i/𝔖 + τ_i/d (ℓ2-augmented sensitivities, Munteanu & Omlor 2024 — a later
      paper's scheme, used only as a comparison);
    - ``lewis``: ℓp Lewis weights (Cohen & Peng; comparison).
    """
    sens = np.asarray(sens, dtype=float)
    lev = np.asarray(lev, dtype=float)
    if scheme == "uniform":
        return np.ones_like(sens)
    if scheme == "leverage":
        return lev.copy()
    if scheme == "sensitivity":
        return sens.copy()
    if scheme == "root_leverage":
        return lev ** (p / 2)
    if scheme == "leverage_sensitivity":
        return lev ** (2 / p) * sens ** (1 - 2 / p)
    if scheme == "augmented":
        return sens / sens.sum() + lev / lev.sum()
    if scheme == "lewis":
        if lewis is None:
            raise ValueError("scheme 'lewis' needs the Lewis weights")
        return np.asarray(lewis, dtype=float).copy()
    raise ValueError(f"unknown scheme {scheme!r}; expected one of {SCHEMES}")


def inclusion_probabilities(scores: np.ndarray, m: float) -> np.ndarray:
    """``q_i = min(1, α s_i)`` with α chosen so that the expected sample size Σ q_i equals ``m``
    (water-filling on the sorted scores). ``m >= #{s_i > 0}`` gives q = 1 on the support."""
    s = np.asarray(scores, dtype=float)
    if np.any(s < 0):
        raise ValueError("scores must be non-negative")
    pos = s > 0
    k = int(pos.sum())
    if m >= k:
        return pos.astype(float)
    order = np.sort(s[pos])[::-1]  # descending
    tail = np.cumsum(order[::-1])[::-1]  # tail[j] = sum of order[j:]
    for j in range(k):  # first j rows are capped at 1
        alpha = (m - j) / tail[j]
        if alpha * order[j] <= 1.0:
            return np.minimum(1.0, alpha * s)
    return pos.astype(float)


def sample_weights(q: np.ndarray, rng: np.random.Generator, reps: int) -> np.ndarray:
    """``reps`` independent Bernoulli samples: a (reps x n) matrix of weights ``1/q_i`` on kept rows
    and 0 elsewhere, so that ``weights @ |Ax|^p = ‖SAx‖_p^p`` (rows rescaled by q_i^{-1/p})."""
    q = np.asarray(q, dtype=float)
    keep = rng.random((reps, q.size)) < q[None, :]
    with np.errstate(divide="ignore"):
        inv = np.where(q > 0, 1.0 / np.where(q > 0, q, 1.0), 0.0)
    return keep * inv[None, :]


def sampling_matrix(weights_row: np.ndarray, p: float) -> np.ndarray:
    """The explicit sampling matrix S (m x n) of one sample: row ``e_iᵀ / q_i^{1/p}`` per kept row."""
    idx = np.flatnonzero(weights_row)
    S = np.zeros((idx.size, weights_row.size))
    S[np.arange(idx.size), idx] = weights_row[idx] ** (1 / p)
    return S


# --------------------------------------------------------------------------------------------------
# distortion: sup over x approximated by many random x plus local ascent
# --------------------------------------------------------------------------------------------------
def distortion_random(weights: np.ndarray, absAXp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each sample (row of ``weights``) and direction (column of ``absAXp = |AX|^p``):
    the ratio ‖SAx‖_p^p / ‖Ax‖_p^p. Returns (ratios reps x K, worst |ratio - 1| per sample)."""
    ratios = (weights @ absAXp) / absAXp.sum(axis=0)[None, :]
    return ratios, np.max(np.abs(ratios - 1.0), axis=1)


def _log_ratio_and_grad(A: np.ndarray, p: float, Wc: np.ndarray, X: np.ndarray):
    """log(‖SAx‖_p^p / ‖Ax‖_p^p) and its gradient, one column per (sample, start).
    Wc: n x c sample weights of each column's sample; X: d x c. Returns (c,), d x c."""
    Y = A @ X
    absY = np.abs(Y)
    Pm1 = abs_power(absY, p - 1, True)
    P = Pm1 * absY
    G = np.sign(Y) * Pm1
    den = P.sum(axis=0)
    num = np.sum(Wc * P, axis=0)
    num_safe = np.maximum(num, 1e-300)
    grad = p * (A.T @ (G * (Wc / num_safe[None, :] - 1.0 / den[None, :])))
    return np.log(num_safe) - np.log(den), grad


def adversarial_distortion(
    A: np.ndarray, p: float, weights: np.ndarray, X0: np.ndarray, steps: int = 30, step0: float = 0.3
) -> np.ndarray:
    """Worst |‖SAx‖_p^p/‖Ax‖_p^p - 1| found by projected (unit-sphere) normalised gradient ascent of
    ±log ratio from the starts ``X0`` (R x d x k: k starts for each of the R samples in ``weights``;
    both signs are run from every start), step ``step0/sqrt(t+1)``. A local search: it
    lower-bounds the true sup over x. Returns the best value seen per sample (R,)."""
    R, d, k = X0.shape
    starts = np.concatenate([X0, X0], axis=2)  # R x d x 2k
    X = np.transpose(starts, (1, 0, 2)).reshape(d, R * 2 * k)
    sign = np.tile(np.concatenate([np.ones(k), -np.ones(k)]), R)[None, :]
    owner = np.repeat(np.arange(R), 2 * k)
    Wc = weights[owner].T  # n x c
    X = X / np.linalg.norm(X, axis=0, keepdims=True)
    best = np.zeros(R * 2 * k)
    for t in range(steps + 1):
        val, grad = _log_ratio_and_grad(A, p, Wc, X)
        best = np.maximum(best, np.abs(np.expm1(val)))
        if t == steps:
            break
        g = grad * sign
        g = g - X * np.sum(g * X, axis=0, keepdims=True)  # tangent to the sphere
        gn = np.linalg.norm(g, axis=0, keepdims=True)
        X = X + (step0 / math.sqrt(t + 1)) * g / np.maximum(gn, 1e-300)
        X = X / np.linalg.norm(X, axis=0, keepdims=True)
    return best.reshape(R, 2 * k).max(axis=1)


def generalized_extreme_ratios(A: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """p = 2 closed form: min and max of ‖SAx‖_2²/‖Ax‖_2² = the extreme generalised eigenvalues of
    (Aᵀ diag(w) A, AᵀA). Used to check the adversarial search."""
    from scipy.linalg import eigh

    vals = eigh(A.T @ (A * w[:, None]), A.T @ A, eigvals_only=True)
    return float(vals[0]), float(vals[-1])


# --------------------------------------------------------------------------------------------------
# samples needed and scaling fits
# --------------------------------------------------------------------------------------------------
def samples_needed(m_grid, eps_stat, eps_target: float, band: float | None = 2.0) -> float | None:
    """m*(ε): the expected sample size from which on the distortion statistic stays <= ``eps_target``.

    The last downward crossing of ``eps_target`` on the grid is located (at tiny m the statistic is
    discrete and can dip below the target by chance, so the first crossing is not used); then, to
    average out the sampling noise of single grid points, a line is fitted in (log m, log ε̂) to the
    grid points within a factor 4 in m of that crossing whose statistic lies within a factor
    ``band`` of the target (always including the two bracketing points) and solved for
    ε̂ = eps_target. ``band=None``: plain log-log interpolation between the bracketing points.
    ``None`` if the statistic is still above the target at the largest m; the first m if it is
    never above."""
    pts = sorted(zip(np.asarray(m_grid, float), np.asarray(eps_stat, float), strict=True))
    above = [j for j, (_, e) in enumerate(pts) if e > eps_target]
    if not above:
        return float(pts[0][0])
    k = above[-1] + 1
    if k == len(pts):
        return None
    (m0, e0), (m1, e1) = pts[k - 1], pts[k]
    if e1 <= 0:
        return float(m1)
    sel = [
        (m, e)
        for m, e in pts
        if band is not None
        and e > 0
        and m0 / 4 <= m <= m1 * 4
        and eps_target / band <= e <= eps_target * band
    ]
    sel = sorted(set(sel) | {(m0, e0), (m1, e1)})
    if len(sel) > 2:
        b, c = np.polyfit(np.log([m for m, _ in sel]), np.log([e for _, e in sel]), 1)
        if b < 0:
            m_fit = math.exp((math.log(eps_target) - c) / b)
            if m0 / 2 <= m_fit <= m1 * 2:  # a fit far outside the bracket is not trusted
                return float(m_fit)
    t = (math.log(e0) - math.log(eps_target)) / (math.log(e0) - math.log(e1))
    return float(math.exp(math.log(m0) + t * (math.log(m1) - math.log(m0))))


def loglog_regression(y, *xs, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``log y = Σ_k b_k log x_k + c`` (``c`` one intercept per group when ``groups``
    is given: a fixed-effects fit, slopes measured within groups). Returns (b, standard errors)."""
    ly = np.log(np.asarray(y, float))
    cols = [np.log(np.asarray(x, float)) for x in xs]
    if groups is None:
        dummies = [np.ones_like(ly)]
    else:
        g = np.asarray(groups)
        dummies = [(g == u).astype(float) for u in np.unique(g)]
    Xd = np.stack(cols + dummies, axis=1)
    k = len(cols)
    nan = np.full(k, np.nan)
    if ly.size <= Xd.shape[1] or np.linalg.matrix_rank(Xd) < Xd.shape[1]:
        return nan, nan
    coef, *_ = np.linalg.lstsq(Xd, ly, rcond=None)
    resid = ly - Xd @ coef
    dof = ly.size - Xd.shape[1]
    cov = (resid @ resid / dof) * np.linalg.inv(Xd.T @ Xd)
    return coef[:k], np.sqrt(np.diag(cov)[:k])


def loglog_slope(x, y) -> tuple[float, float, float]:
    """Least-squares fit log y = b log x + c. Returns (b, standard error of b, c). Only the run's summary
    metric ``slope_sensitivity`` uses it; verdicts and figures use ``reporting.stats.loglog_slope``."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if lx.size < 2 or np.ptp(lx) == 0:
        return float("nan"), float("nan"), float("nan")
    Xd = np.stack([lx, np.ones_like(lx)], axis=1)
    coef, *_ = np.linalg.lstsq(Xd, ly, rcond=None)
    resid = ly - Xd @ coef
    dof = lx.size - 2
    se = float(math.sqrt(resid @ resid / dof / np.sum((lx - lx.mean()) ** 2))) if dof > 0 else float("nan")
    return float(coef[0]), se, float(coef[1])


def theory_exponent(p: float) -> float:
    """The paper's exponent of 𝔖 in the sensitivity-sampling bound: 2/p for p < 2, 2-2/p for p > 2
    (1 at p = 2, where 𝔖 = d)."""
    return 2.0 / p if p < 2 else 2.0 - 2.0 / p


# --------------------------------------------------------------------------------------------------
# test matrices
# --------------------------------------------------------------------------------------------------
def mixture_matrix(n: int, d: int, t: float, rng: np.random.Generator) -> np.ndarray:
    """Rows ``sqrt(1-t)·e_{i mod d} + sqrt(t/d)·g_i`` (g_i standard Gaussian): t = 0 is d blocks of
    repeated coordinate rows (every p: σ_i = d/n, 𝔖 = d), t = 1 a Gaussian matrix
    (𝔖 ≈ d^{p/2}/E|g|^p: near the lower end d^{p/2} for p < 2, the upper end for p > 2)
    [reconstructed family: the paper has no experiments]."""
    if not 0.0 <= t <= 1.0:
        raise ValueError("t must be in [0, 1]")
    E = np.zeros((n, d))
    E[np.arange(n), np.arange(n) % d] = 1.0
    return math.sqrt(1.0 - t) * E + math.sqrt(t / d) * rng.standard_normal((n, d))
