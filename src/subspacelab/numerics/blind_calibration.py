"""Blind gain calibration from linear random sensing (Cambareri & Jacques, arXiv 1610.09028).

Model (paper, Sec. 1-2): p snapshots y_l = diag(d) A_l x, l = 1..p, with A_l in R^{m x n} i.i.d.
sub-Gaussian, an unknown signal x in R^n and unknown positive gains d in R^m normalised so that
1^T d = m and ||d - 1||_inf <= rho < 1. The paper solves the non-convex least-squares problem

    min_{xi, gamma} f(xi, gamma) = 1/(2 m p) sum_l ||diag(gamma) A_l xi - y_l||^2,
    gamma in G_rho = {gamma : 1^T gamma = m, ||gamma - 1||_inf <= rho}

by projected gradient descent (PGD) started at xi_0 = 1/(m p) sum_l A_l^T y_l (unbiased for x
because the gains average to one) and gamma_0 = 1_m. With subspace priors x = Z z (Z in R^{n x h})
and d = 1_m + B b (B in R^{m x k}, B^T 1_m = 0) the same descent runs on (z, b).

What was read and what was reconstructed (see also ``src/subspacelab/papers/blind_calibration/NOTES.md``):
only the abstracts of the paper and of its conference versions could be read. The objective, the
initialisation, the projection of the gain gradient on 1_m^perp and the step scaling
mu_gamma = mu * m / ||xi_0||^2 follow the project's verified notes (12-blind_calibration.md, items 2-5)
[reconstructed: the paper's Algorithm 1 box was not readable]. The exact Euclidean projection onto
G_rho below is our choice for the paper's "projection" [reconstructed].

Every function works on a batch of independent problems: leading axis T (trials). Shapes:
A (T, p, m, n), x (T, n), d (T, m), y (T, p, m). Pure numpy, no I/O.

Baselines (not the paper's method, named as what they are):
- ``als``: alternating exact least squares on the same objective and constraint set (without the box).
- ``linear_ls``: the convex linear least-squares method of Ling & Strohmer (arXiv 1611.04196, Sec. 2):
  with s = 1/d the equations s_i y_{i,l} = a_{i,l}^T x are linear in (x, s); the solution is the
  null vector of that system (smallest right singular vector), rescaled so that 1^T d = m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --------------------------------------------------------------------------------------------
# Problem generation
# --------------------------------------------------------------------------------------------


def orthonormal_basis(rng: np.random.Generator, T: int, n: int, h: int) -> np.ndarray:
    """T random n x h matrices with orthonormal columns (QR of a Gaussian matrix). Shape (T, n, h)."""
    q, r = np.linalg.qr(rng.standard_normal((T, n, h)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def gain_basis(rng: np.random.Generator, T: int, m: int, k: int) -> np.ndarray:
    """T random m x k orthonormal bases of k-dimensional subspaces of 1_m^perp (the paper's gain
    subspace prior d = 1_m + B b with B^T 1_m = 0). Needs k <= m - 1. Shape (T, m, k)."""
    if not 1 <= k <= m - 1:
        raise ValueError(f"k: need 1 <= k <= m - 1, got k={k}, m={m}")
    g = rng.standard_normal((T, m, k))
    g -= g.mean(axis=1, keepdims=True)
    q, _ = np.linalg.qr(g)
    return q


def sensing_matrices(
    rng: np.random.Generator, T: int, p: int, m: int, n: int, ensemble: str = "gaussian"
) -> np.ndarray:
    """i.i.d. sub-Gaussian sensing matrices A_l with unit-variance entries. Shape (T, p, m, n)."""
    if ensemble == "gaussian":
        return rng.standard_normal((T, p, m, n))
    if ensemble == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=(T, p, m, n))
    raise ValueError(f"ensemble: unknown {ensemble!r}; valid: gaussian, rademacher")


def random_gains(rng: np.random.Generator, T: int, m: int, rho: float) -> np.ndarray:
    """Gains in G_rho: uniform draws in [1 - rho, 1 + rho]^m, then the exact projection onto G_rho
    (so that 1^T d = m exactly) [reconstructed: the paper's gain distribution was not readable]."""
    return project_gains(1.0 + rng.uniform(-rho, rho, size=(T, m)), rho)


def measure(A: np.ndarray, x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Noise-free measurements y_l = diag(d) A_l x (paper eq. (1)). Shape (T, p, m)."""
    return d[:, None, :] * sense(A, x)


def add_noise(rng: np.random.Generator, y: np.ndarray, level: float) -> np.ndarray:
    """y + nu with nu i.i.d. Gaussian of standard deviation level * RMS(y) per trial (so ``level`` is
    the noise-to-signal amplitude ratio: SNR = 1 / level^2) [reconstructed noise scaling]."""
    rms = np.sqrt(np.mean(y**2, axis=(1, 2), keepdims=True))
    return y + level * rms * rng.standard_normal(y.shape)


# --------------------------------------------------------------------------------------------
# Objective, gradients, projections (paper Sec. 2)
# --------------------------------------------------------------------------------------------


def sense(A: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """A_l xi for every snapshot: (T, p, m, n) x (T, n) -> (T, p, m)."""
    T, p, m, n = A.shape
    return np.matmul(A.reshape(T, p * m, n), xi[:, :, None]).reshape(T, p, m)


def sense_adjoint(A: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum_l A_l^T w_l: (T, p, m, n) x (T, p, m) -> (T, n)."""
    T, p, m, n = A.shape
    return np.matmul(w.reshape(T, 1, p * m), A.reshape(T, p * m, n))[:, 0, :]


def residual(
    A: np.ndarray, y: np.ndarray, xi: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(r, u) with u_l = A_l xi and r_l = diag(gamma) u_l - y_l."""
    u = sense(A, xi)
    return gamma[:, None, :] * u - y, u


def objective(A: np.ndarray, y: np.ndarray, xi: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """f(xi, gamma) = 1/(2 m p) sum_l ||diag(gamma) A_l xi - y_l||^2. Shape (T,)."""
    _, p, m, _ = A.shape
    r, _ = residual(A, y, xi, gamma)
    return 0.5 * np.sum(r**2, axis=(1, 2)) / (m * p)


def gradients(
    A: np.ndarray, y: np.ndarray, xi: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean gradients of f:
    grad_xi f = 1/(mp) sum_l A_l^T diag(gamma) r_l,   grad_gamma f = 1/(mp) sum_l diag(A_l xi) r_l."""
    _, p, m, _ = A.shape
    r, u = residual(A, y, xi, gamma)
    g_xi = sense_adjoint(A, gamma[:, None, :] * r) / (m * p)
    g_gamma = np.sum(u * r, axis=1) / (m * p)
    return g_xi, g_gamma


def project_mean_zero(g: np.ndarray) -> np.ndarray:
    """Orthogonal projection onto 1_m^perp (removes the mean): the gain gradient the paper's PGD uses
    so that a step keeps 1^T gamma = m."""
    return g - g.mean(axis=-1, keepdims=True)


def project_gains(gamma: np.ndarray, rho: float | None, max_steps: int = 100) -> np.ndarray:
    """Exact Euclidean projection onto G_rho = {1^T gamma = m} ∩ {||gamma - 1||_inf <= rho}.

    The minimiser is clip(gamma - tau, 1 - rho, 1 + rho) with the scalar tau such that the sum is m
    (KKT conditions of a box plus one hyperplane). phi(tau) = sum_i clip(gamma_i - tau) is piecewise
    linear and non-increasing, so tau is found by Newton steps on phi (exact once the clipped set is
    right) safeguarded by bisection inside a bracket. Rows already in G_rho are returned unchanged
    (after the hyperplane projection). ``rho=None`` (or inf) projects onto the hyperplane only.
    [reconstructed: the projection the paper implements was not readable]."""
    gamma = np.array(gamma, dtype=float)
    m = gamma.shape[-1]
    gamma = gamma - (gamma.mean(axis=-1, keepdims=True) - 1.0)  # tau = mean - 1 solves the unboxed case
    if rho is None or not np.isfinite(rho):
        return gamma
    if not 0 < rho:
        raise ValueError(f"rho: must be positive, got {rho}")
    lo, hi = 1.0 - rho, 1.0 + rho
    flat = gamma.reshape(-1, m)
    rows = np.flatnonzero((flat.min(axis=1) < lo) | (flat.max(axis=1) > hi))
    if rows.size == 0:
        return gamma
    g = flat[rows]
    a = g.min(axis=1) - hi  # phi(a) = m * hi >= m
    b = g.max(axis=1) - lo  # phi(b) = m * lo <= m
    tau = np.zeros(rows.size)
    for _ in range(max_steps):
        shifted = g - tau[:, None]
        f = np.clip(shifted, lo, hi).sum(axis=1) - m
        if np.all(np.abs(f) <= 1e-12 * m):
            break
        a = np.where(f > 0, tau, a)  # phi too big -> tau must grow
        b = np.where(f < 0, tau, b)
        free = np.sum((shifted > lo) & (shifted < hi), axis=1)
        newton = tau + f / np.maximum(free, 1)
        ok = (free > 0) & (newton > a) & (newton < b)
        tau = np.where(ok, newton, 0.5 * (a + b))
    flat = flat.copy()
    flat[rows] = np.clip(g - tau[:, None], lo, hi)
    return flat.reshape(gamma.shape)


def initialise(A: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paper's initialisation: xi_0 = 1/(mp) sum_l A_l^T y_l, gamma_0 = 1_m.
    E[xi_0] = (1/m) sum_i d_i x = x because 1^T d = m (unbiased)."""
    T, p, m, _ = A.shape
    return sense_adjoint(A, y) / (m * p), np.ones((T, m))


# --------------------------------------------------------------------------------------------
# Solvers
# --------------------------------------------------------------------------------------------


@dataclass
class Solution:
    """Per-trial results of a solver. ``xi`` lives in the coordinates of the A passed in (z with priors)."""

    xi: np.ndarray  # (T, q)
    gamma: np.ndarray  # (T, m)
    iters: np.ndarray  # (T,) iterations used
    converged: np.ndarray  # (T,) stopping rule met before the cap
    diverged: np.ndarray  # (T,) non-finite or exploding iterates


def project_on_basis(B: np.ndarray, g: np.ndarray) -> np.ndarray:
    """B B^T g: the gain-gradient projector with a gain subspace prior (B orthonormal, B^T 1 = 0, so a
    step keeps 1^T gamma = m). Shapes (T, m, k), (T, m) -> (T, m)."""
    return np.matmul(B, np.matmul(g[:, None, :], B)[:, 0, :, None])[..., 0]


def pgd(
    A: np.ndarray,
    y: np.ndarray,
    *,
    mu: float = 0.3,
    max_iters: int = 2000,
    tol: float = 1e-10,
    rho: float | None = None,
    B: np.ndarray | None = None,
    check_every: int = 10,
) -> Solution:
    """Non-convex blind calibration by projected gradient descent (paper Sec. 2-3, Algorithm 1
    [reconstructed from the notes]):

        xi_{j+1}    = xi_j - mu_xi * grad_xi f(xi_j, gamma_j)
        gamma_{j+1} = P(gamma_j - mu_gamma * Pi grad_gamma f(xi_j, gamma_j))

    with xi_0, gamma_0 from :func:`initialise`, mu_xi = mu, mu_gamma = mu * m / ||xi_0||^2, Pi the
    projector on 1^perp (or on span(B) with a gain subspace prior) and P the projection onto G_rho
    (``rho=None``: none needed, Pi already keeps 1^T gamma = m). With a signal prior pass A Z (shape
    (T, p, m, h)) instead of A: xi is then the coefficient vector z.

    Stops a trial when the relative move of the iterate, sqrt(||dxi||^2/||xi||^2 + ||dgamma||^2/||gamma||^2)
    (dgamma measured after the projection), is < tol (checked every ``check_every`` iterations) or at
    ``max_iters``. Converged trials leave the batch."""
    if B is not None and rho is not None:
        raise ValueError("rho: the box projection is not defined with a gain subspace prior; pass rho=None")
    T, p, m, q = A.shape
    xi, gamma = initialise(A, y)
    mu_xi = mu
    mu_gamma = mu * m / np.maximum(np.sum(xi**2, axis=1), 1e-300)  # (T,)
    out_xi, out_gamma = xi.copy(), gamma.copy()
    iters = np.full(T, max_iters)
    converged = np.zeros(T, bool)
    diverged = np.zeros(T, bool)
    active = np.arange(T)
    Aa, ya, Ba, mg = A, y, B, mu_gamma
    scale0 = np.sqrt(np.sum(xi**2, axis=1))
    for it in range(1, max_iters + 1):
        g_xi, g_gamma = gradients(Aa, ya, xi, gamma)
        step_xi = mu_xi * g_xi
        direction = project_mean_zero(g_gamma) if Ba is None else project_on_basis(Ba, g_gamma)
        xi = xi - step_xi
        gamma_new = gamma - mg[:, None] * direction
        if rho is not None:
            gamma_new = project_gains(gamma_new, rho)
        step_gamma = gamma - gamma_new  # the actual move (after the projection), for the stopping rule
        gamma = gamma_new
        if it % check_every and it != max_iters:
            continue
        rel = np.sqrt(
            np.sum(step_xi**2, 1) / np.maximum(np.sum(xi**2, 1), 1e-300)
            + np.sum(step_gamma**2, 1) / np.maximum(np.sum(gamma**2, 1), 1e-300)
        )
        bad = ~np.isfinite(rel) | (np.sqrt(np.sum(xi**2, 1)) > 1e6 * scale0[active])
        done = (rel < tol) | bad | (it == max_iters)
        if done.any():
            idx = active[done]
            out_xi[idx], out_gamma[idx] = xi[done], gamma[done]
            iters[idx] = it
            converged[idx] = (rel[done] < tol) & ~bad[done]
            diverged[idx] = bad[done]
            keep = ~done
            active = active[keep]
            if active.size == 0:
                break
            xi, gamma, Aa, ya, mg = xi[keep], gamma[keep], Aa[keep], ya[keep], mg[keep]
            if Ba is not None:
                Ba = Ba[keep]
    return Solution(out_xi, out_gamma, iters, converged, diverged)


def als(
    A: np.ndarray,
    y: np.ndarray,
    *,
    max_iters: int = 300,
    tol: float = 1e-10,
    B: np.ndarray | None = None,
    ridge: float = 1e-12,
) -> Solution:
    """Alternating least squares baseline (not the paper's method): starting from gamma_0 = 1_m,
    alternate the exact minimisations of f over xi (normal equations, (T, q, q) solves) and over
    gamma in {1^T gamma = m} (closed form with one Lagrange multiplier) or gamma in 1 + span(B)
    (a (k x k) solve). Same stopping rule as :func:`pgd`. ``ridge``: relative Tikhonov term added to
    both normal matrices (1e-12: negligible unless they are singular) [our choice]."""
    T, p, m, q = A.shape
    Af = A.reshape(T, p * m, q)
    gamma = np.ones((T, m))
    xi = np.zeros((T, q))
    iters = np.full(T, max_iters)
    converged = np.zeros(T, bool)
    diverged = np.zeros(T, bool)
    done_mask = np.zeros(T, bool)
    for it in range(1, max_iters + 1):
        act = ~done_mask
        g2 = np.broadcast_to(gamma[act][:, None, :] ** 2, (act.sum(), p, m)).reshape(-1, p * m)
        Aw = Af[act] * g2[..., None]
        G = _ridged(np.matmul(Af[act].transpose(0, 2, 1), Aw), ridge)
        rhs = sense_adjoint(A[act], gamma[act][:, None, :] * y[act])
        xi_new = np.linalg.solve(G, rhs[..., None])[..., 0]
        u = sense(A[act], xi_new)
        s = np.sum(u**2, axis=1)  # (Ta, m)
        c = np.sum(u * y[act], axis=1)
        if B is None:
            s = np.maximum(s, 1e-300)
            lam = (m - np.sum(c / s, 1, keepdims=True)) / np.sum(1 / s, 1, keepdims=True)
            gamma_new = (c + lam) / s
        else:
            Bt = B[act]
            H = _ridged(np.matmul(Bt.transpose(0, 2, 1), s[..., None] * Bt), ridge)
            b = np.linalg.solve(H, np.matmul(Bt.transpose(0, 2, 1), (c - s)[..., None]))
            gamma_new = 1.0 + np.matmul(Bt, b)[..., 0]
        rel = np.sqrt(
            np.sum((xi_new - xi[act]) ** 2, 1) / np.maximum(np.sum(xi_new**2, 1), 1e-300)
            + np.sum((gamma_new - gamma[act]) ** 2, 1) / np.maximum(np.sum(gamma_new**2, 1), 1e-300)
        )
        xi[act], gamma[act] = xi_new, gamma_new
        bad = ~np.isfinite(rel)
        stop = (rel < tol) | bad
        idx = np.flatnonzero(act)[stop]
        iters[idx] = it
        converged[idx] = ~bad[stop]
        diverged[idx] = bad[stop]
        done_mask[idx] = True
        if done_mask.all():
            break
    return Solution(xi, gamma, iters, converged, diverged)


def _ridged(G: np.ndarray, ridge: float) -> np.ndarray:
    """G + ridge * (trace(G) / q) I: keeps the (T, q, q) normal equations solvable when a snapshot
    count is too small for them to be invertible (under-determined cases, which fail anyway)."""
    q = G.shape[-1]
    scale = np.trace(G, axis1=-2, axis2=-1)[:, None, None] / q
    return G + ridge * np.maximum(scale, 1e-300) * np.eye(q)


def linear_ls(A: np.ndarray, y: np.ndarray) -> Solution:
    """Convex baseline of Ling & Strohmer (arXiv 1611.04196, "self-calibration via linear least
    squares", spectral variant): with s = 1/d the system s_i y_{i,l} - a_{i,l}^T x = 0 is linear and
    homogeneous in w = (x, s); take w as the right singular vector of the (mp x (n+m)) system matrix
    with the smallest singular value, then fix the scale so that 1^T d = m. Needs every d_i != 0;
    identifiable (noise-free) once mp >= n + m - 1. Not the paper's method."""
    T, p, m, n = A.shape
    # Normal matrix M^T M of M = [-A_stacked | Y] with Y the (pm x m) matrix of y_{i,l} e_i^T.
    Af = A.reshape(T, p * m, n)
    AtA = np.matmul(Af.transpose(0, 2, 1), Af)  # (T, n, n)
    AtY = -np.einsum("tlin,tli->tni", A, y)  # (T, n, m): -(sum_l a_il y_il) per column i
    YtY = np.einsum("tli,tli->ti", y, y)  # (T, m) diagonal
    N = np.zeros((T, n + m, n + m))
    N[:, :n, :n] = AtA
    N[:, :n, n:] = AtY
    N[:, n:, :n] = AtY.transpose(0, 2, 1)
    idx = np.arange(m)
    N[:, n + idx, n + idx] = YtY
    _, vecs = np.linalg.eigh(N)
    w = vecs[:, :, 0]
    x_hat, s_hat = w[:, :n], w[:, n:]
    with np.errstate(divide="ignore", invalid="ignore"):
        d_hat = 1.0 / s_hat
        c = m / np.sum(d_hat, axis=1, keepdims=True)  # d -> c d, s -> s / c, x -> x / c (keeps s y = A x)
    gamma = c * d_hat
    xi = x_hat / c  # w = alpha (x, 1/d) gives c = alpha, so gamma = d and xi = x
    ok = np.all(np.isfinite(gamma), axis=1) & np.all(np.isfinite(xi), axis=1)
    return Solution(
        np.where(ok[:, None], xi, np.nan), np.where(ok[:, None], gamma, np.nan), np.ones(T, int), ok, ~ok
    )


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def relative_errors(
    xi: np.ndarray, gamma: np.ndarray, x: np.ndarray, d: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """||xi - x|| / ||x|| and ||gamma - d|| / ||d|| per trial (no ambiguity left: 1^T gamma = 1^T d = m)."""
    ex = np.linalg.norm(xi - x, axis=1) / np.linalg.norm(x, axis=1)
    eg = np.linalg.norm(gamma - d, axis=1) / np.linalg.norm(d, axis=1)
    return ex, eg


def joint_error(xi: np.ndarray, gamma: np.ndarray, x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """max of the two relative errors; NaN (failed solver) counts as infinite."""
    ex, eg = relative_errors(xi, gamma, x, d)
    e = np.maximum(ex, eg)
    return np.where(np.isfinite(e), e, np.inf)
