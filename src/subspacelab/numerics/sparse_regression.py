"""Sparse linear regression with random vs adversarial supports: designs, supports, baselines, metric.

Setting of Chandrasekaran, Meka & Stavropoulos, "Sparse Linear Regression is Easy on Random Supports"
(arXiv 2511.06211, STOC 2026), §1: ``y = X w* + xi`` with ``X`` in R^{N x d}, ``w*`` k-sparse,
``xi`` mean-zero sigma-sub-gaussian noise independent of ``X``; the goal is a small prediction error
``(1/N) * ||X w* - X w_hat||_2^2``. The paper's result: if supp(w*) is uniformly random, a two-phase
algorithm (§4 "finding a good preconditioner", §5 "solving SLR after finding a good preconditioner")
reaches error eps with N = poly(k, log d, 1/eps) samples for any X (condition number up to 2^poly(d)).

WHAT IS NOT HERE: the paper's two-phase algorithm. Only the abstract, §1's opening and the table of
contents of the paper could be read (arXiv HTML v1 and mirrors); the preconditioner construction of §4
and the estimator of §5 could not be retrieved, so they are not implemented, and nothing here stands in
for them under the paper's name.

What is here (all [reconstructed] as an experimental protocol, not read in the paper, which has no
experiments):

* designs with a known population covariance Sigma (rows of X iid N(0, Sigma), unit-variance columns,
  i.e. bounded column norms): ``gaussian`` (Sigma = I), ``near_dependent`` (columns in triples
  (a, b, c) with x_c = s (x_a + x_b)/sqrt(2) + delta g, condition number kappa exactly) and
  ``random_walk`` (x_j = (g_1 + ... + g_j)/sqrt(j), condition number ~1e5 at d = 200, ~4e5 at d = 400)
  and ``block`` (a few large equicorrelated blocks, condition number kappa exactly when the blocks have
  equal size: a random k-subset usually holds two columns of one block, so random supports meet
  near-dependencies too);
* supports: uniformly random k-subsets (the paper's model) and adversarial ones chosen among the
  near-dependent columns; values: iid Gaussian, or the worst direction for the support (least
  eigenvector of Sigma_SS), always scaled to unit signal power w*' Sigma w* = 1;
* the scikit-learn baselines (the Lasso by LARS at the universal alpha, the Lasso with alpha by
  cross-validation, the Lasso at the best alpha in hindsight, OMP), least squares (the generic N = O(d)
  polynomial-time method of the abstract) and the oracle least squares on supp(w*);
* the closed-form expected in-sample errors of least squares, sigma^2 min(N, d)/N, and of the oracle,
  sigma^2 k/N, used as theory curves.
"""

from __future__ import annotations

import math

import numpy as np

DESIGNS = ("gaussian", "near_dependent", "random_walk", "block")
KAPPA_DESIGNS = ("near_dependent", "block")


# --------------------------------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------------------------------


def coupling_for_kappa(kappa: float) -> tuple[float, float]:
    """(s, delta) for a near-dependent triple whose covariance has condition number ``kappa``.

    The triple's covariance [[1, 0, r], [0, 1, r], [r, r, 1]] with r = s/sqrt(2) has eigenvalues
    1 - s, 1, 1 + s, so kappa = (1 + s)/(1 - s), i.e. s = (kappa - 1)/(kappa + 1); delta = sqrt(1 - s^2)
    keeps the dependent column at unit variance.
    """
    if not kappa >= 1.0:
        raise ValueError(f"kappa must be >= 1, got {kappa}")
    s = (kappa - 1.0) / (kappa + 1.0)
    return s, math.sqrt(max(0.0, 1.0 - s * s))


def near_dependent_groups(d: int) -> np.ndarray:
    """Column triples (a, b, c) of the near-dependent design: (3g, 3g+1, 3g+2); leftover columns
    (d mod 3) are independent. Shape (d // 3, 3)."""
    g = d // 3
    return np.arange(3 * g).reshape(g, 3)


def block_slices(d: int, n_blocks: int) -> list[np.ndarray]:
    """Column blocks of the block design: n_blocks contiguous blocks of (nearly) equal size."""
    return [np.asarray(b) for b in np.array_split(np.arange(d), n_blocks)]


def block_rho(kappa: float, m: int) -> float:
    """Within-block correlation rho of an m-column equicorrelated block with condition number kappa:
    eigenvalues 1 + (m - 1) rho (once) and 1 - rho (m - 1 times), so rho = (kappa - 1)/(kappa + m - 1)."""
    if not kappa >= 1.0:
        raise ValueError(f"kappa must be >= 1, got {kappa}")
    return (kappa - 1.0) / (kappa + m - 1.0)


def population_covariance(design: str, d: int, kappa: float = 1.0, n_blocks: int = 4) -> np.ndarray:
    """Population covariance Sigma of a design's rows (unit diagonal for every design)."""
    if design == "gaussian":
        return np.eye(d)
    if design == "near_dependent":
        s, _ = coupling_for_kappa(kappa)
        r = s / math.sqrt(2.0)
        cov = np.eye(d)
        for a, b, c in near_dependent_groups(d):
            cov[a, c] = cov[c, a] = r
            cov[b, c] = cov[c, b] = r
        return cov
    if design == "random_walk":
        i = np.arange(1, d + 1, dtype=float)
        return np.sqrt(np.minimum.outer(i, i) / np.maximum.outer(i, i))
    if design == "block":
        cov = np.eye(d)
        for b in block_slices(d, n_blocks):
            rho = block_rho(kappa, len(b))
            cov[np.ix_(b, b)] = rho + (1.0 - rho) * np.eye(len(b))
        return cov
    raise ValueError(f"unknown design {design!r}; expected one of {DESIGNS}")


def random_walk_covariance_unnormalized(d: int) -> np.ndarray:
    """Cov of the plain random walk W_j = g_1 + ... + g_j: Sigma_ij = min(i, j) (for closed-form checks)."""
    i = np.arange(1, d + 1, dtype=float)
    return np.minimum.outer(i, i)


def random_walk_eigenvalues_unnormalized(d: int) -> np.ndarray:
    """Closed-form eigenvalues of min(i, j), i, j = 1..d: 1 / (4 sin^2((2m - 1) pi / (2 (2d + 1))))."""
    m = np.arange(1, d + 1, dtype=float)
    return 1.0 / (4.0 * np.sin((2 * m - 1) * math.pi / (2 * (2 * d + 1))) ** 2)


def sample_design(
    rng: np.random.Generator, design: str, n: int, d: int, kappa: float = 1.0, n_blocks: int = 4
) -> np.ndarray:
    """n rows iid N(0, Sigma) of a design, built column by column from iid Gaussians (no Cholesky, so
    the near-dependencies are exact at any kappa)."""
    z = rng.standard_normal((n, d))
    if design == "gaussian":
        return z
    if design == "near_dependent":
        s, delta = coupling_for_kappa(kappa)
        x = z.copy()
        groups = near_dependent_groups(d)
        a, b, c = groups[:, 0], groups[:, 1], groups[:, 2]
        x[:, c] = s * (z[:, a] + z[:, b]) / math.sqrt(2.0) + delta * z[:, c]
        return x
    if design == "random_walk":
        return np.cumsum(z, axis=1) / np.sqrt(np.arange(1, d + 1, dtype=float))
    if design == "block":
        blocks = block_slices(d, n_blocks)
        f = rng.standard_normal((n, len(blocks)))
        x = np.empty_like(z)
        for j, b in enumerate(blocks):
            rho = block_rho(kappa, len(b))
            x[:, b] = math.sqrt(rho) * f[:, [j]] + math.sqrt(1.0 - rho) * z[:, b]
        return x
    raise ValueError(f"unknown design {design!r}; expected one of {DESIGNS}")


def condition_number(cov: np.ndarray) -> float:
    """lambda_max / lambda_min of a symmetric positive-definite matrix."""
    ev = np.linalg.eigvalsh(cov)
    return float(ev[-1] / ev[0])


def marchenko_pastur_condition(n: int, d: int) -> float:
    """Limit condition number of X'X/n for an n x d (n > d) iid N(0, 1) matrix:
    ((1 + sqrt(d/n)) / (1 - sqrt(d/n)))^2."""
    q = math.sqrt(d / n)
    return ((1 + q) / (1 - q)) ** 2


# --------------------------------------------------------------------------------------------------
# Supports and signals
# --------------------------------------------------------------------------------------------------


def random_support(rng: np.random.Generator, d: int, k: int) -> np.ndarray:
    """A uniformly random k-subset of {0..d-1} (the paper's random-support model), sorted."""
    return np.sort(rng.choice(d, size=k, replace=False))


def near_dependent_candidates(design: str, d: int, k: int, n_blocks: int = 4) -> list[np.ndarray]:
    """Blocks of near-dependent columns an adversary picks from, per design.

    near_dependent: the triples (a, b, c); random_walk: blocks of k consecutive columns in the second
    half (neighbours j, j+1 there have correlation sqrt(j/(j+1)) >= 0.998 at d = 400); block: the blocks
    holding at least k columns. The Gaussian design has none.
    """
    if design == "near_dependent":
        return list(near_dependent_groups(d))
    if design == "block":
        return [b for b in block_slices(d, n_blocks) if len(b) >= k]
    if design == "random_walk":
        return [np.arange(j, j + k) for j in range(d // 2, d - k + 1)]
    return []


def adversarial_support(
    rng: np.random.Generator, design: str, d: int, k: int, n_blocks: int = 4
) -> np.ndarray:
    """k columns chosen among the design's near-dependent columns [reconstructed protocol].

    near_dependent: whole triples, ceil(k/3) of them drawn at random, first k of their columns (k = 6:
    two full triples, so Sigma_SS has two eigenvalues 1 - s); random_walk: one random block of k
    consecutive columns from the second half; block: k random columns of one random block.
    """
    cands = near_dependent_candidates(design, d, k, n_blocks)
    if not cands:
        raise ValueError(f"design {design!r} has no near-dependent columns to build an adversarial support")
    if design == "near_dependent":
        m = math.ceil(k / 3)
        if m > len(cands):
            raise ValueError(f"k={k} needs {m} triples but d={d} has {len(cands)}")
        pick = rng.choice(len(cands), size=m, replace=False)
        cols = np.concatenate([cands[i] for i in sorted(pick)])[:k]
        return np.sort(cols)
    if design == "block":
        b = cands[int(rng.integers(len(cands)))]
        return np.sort(rng.choice(b, size=k, replace=False))
    return np.sort(cands[int(rng.integers(len(cands)))])


def signal_values(
    rng: np.random.Generator, cov_ss: np.ndarray, values: str, rtol: float = 1e-9
) -> np.ndarray:
    """Coefficients on a support S, scaled so that w_S' Sigma_SS w_S = 1 (unit signal power).

    ``gaussian``: an iid N(0, 1) direction; ``worst``: a direction in the least eigenspace of Sigma_SS
    (the k-sparse direction on S with the largest coefficients per unit of signal, hence the largest l1
    norm an l1-penalised estimator must pay for) [reconstructed protocol]. When that eigenvalue is
    repeated (e.g. Sigma_SS = I) a random Gaussian direction inside the eigenspace is drawn, so that
    ``worst`` on a well-conditioned support is just a random dense direction, not a coordinate vector.
    """
    if values == "gaussian":
        v = rng.standard_normal(cov_ss.shape[0])
    elif values == "worst":
        ev, vecs = np.linalg.eigh(cov_ss)
        basis = vecs[:, ev <= ev[0] + rtol * max(1.0, abs(ev[-1]))]
        v = basis @ rng.standard_normal(basis.shape[1])
    else:
        raise ValueError(f"unknown values {values!r}; expected 'gaussian' or 'worst'")
    return v / math.sqrt(float(v @ cov_ss @ v))


def sparse_signal(d: int, support: np.ndarray, vals: np.ndarray) -> np.ndarray:
    w = np.zeros(d)
    w[support] = vals
    return w


# --------------------------------------------------------------------------------------------------
# Metric and theory
# --------------------------------------------------------------------------------------------------


def prediction_error(x: np.ndarray, w_true: np.ndarray, w_hat: np.ndarray) -> float:
    """(1/N) * ||X w* - X w_hat||_2^2, the paper's error measure (§1)."""
    r = x @ (w_true - w_hat)
    return float(r @ r) / x.shape[0]


def least_squares_expected_error(n: int | np.ndarray, d: int, sigma: float):
    """E[(1/N)||X(w_ls - w*)||^2] = sigma^2 rank(X)/N = sigma^2 min(N, d)/N for the minimum-norm least
    squares fit (projection of the noise on the column space of X; interpolation when N <= d)."""
    n = np.asarray(n, dtype=float)
    return sigma**2 * np.minimum(n, d) / n


def oracle_expected_error(n: int | np.ndarray, k: int, sigma: float):
    """E[(1/N)||X(w_oracle - w*)||^2] = sigma^2 k / N for least squares on the true support (N >= k)."""
    n = np.asarray(n, dtype=float)
    return sigma**2 * np.minimum(n, k) / n


def universal_lasso_alpha(n: int, d: int, sigma: float, c: float = 1.0) -> float:
    """alpha = c * sigma * sqrt(2 log(d) / N) for scikit-learn's objective
    (1/(2N))||y - Xw||^2 + alpha ||w||_1 (unit-variance columns): the textbook universal choice
    [reconstructed baseline setting; the paper gives none]."""
    return c * sigma * math.sqrt(2.0 * math.log(d) / n)


# --------------------------------------------------------------------------------------------------
# Estimators (baselines; the paper's algorithm is not among them)
# --------------------------------------------------------------------------------------------------


def fit_least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Minimum-norm least squares (lstsq): the generic polynomial-time method needing N ~ d."""
    return np.linalg.lstsq(x, y, rcond=None)[0]


def fit_oracle(x: np.ndarray, y: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Least squares restricted to the true support (an oracle, not an algorithm)."""
    w = np.zeros(x.shape[1])
    w[support] = np.linalg.lstsq(x[:, support], y, rcond=None)[0]
    return w


def fit_lasso(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """The Lasso argmin_w (1/(2N))||y - Xw||^2 + alpha ||w||_1 (no intercept: the model has none),
    solved exactly by scikit-learn's LARS-Lasso (``LassoLars``). Coordinate descent (``Lasso``) gives the
    same minimiser on easy designs (unit test) but did not converge on the kappa = 1e6 design even after
    1e5 sweeps, so the homotopy solver is used everywhere."""
    from sklearn.linear_model import LassoLars

    model = LassoLars(alpha=alpha, fit_intercept=False, max_iter=max(500, 4 * x.shape[1]))
    model.fit(x, y)
    return model.coef_.copy()


def fit_lasso_cv(x: np.ndarray, y: np.ndarray, folds: int = 5) -> tuple[np.ndarray, float]:
    """Lasso with alpha chosen by K-fold cross-validation (scikit-learn ``LassoLarsCV``: contiguous,
    deterministic folds; the exact Lasso path per fold). Returns (coef, chosen alpha)."""
    from sklearn.linear_model import LassoLarsCV

    folds = max(2, min(folds, x.shape[0] // 2))
    model = LassoLarsCV(cv=folds, fit_intercept=False, max_iter=max(500, 4 * x.shape[1]))
    model.fit(x, y)
    return model.coef_.copy(), float(model.alpha_)


def lasso_path(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The whole Lasso path (LARS-Lasso homotopy): knots alpha_0 > alpha_1 > ... and the coefficients
    at each knot (d x K); between knots the solution is linear in alpha."""
    from sklearn.linear_model import lars_path

    alphas, _, coefs = lars_path(x, y, method="lasso", max_iter=max(500, 4 * x.shape[1]))
    return alphas, coefs


def best_on_path(
    x: np.ndarray, w_true: np.ndarray, alphas: np.ndarray, coefs: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """The point of a piecewise-linear coefficient path with the least prediction error against
    ``w_true`` (exact: the error is quadratic along each segment). Returns (coef, alpha, error).

    With the Lasso path this is the Lasso at the best possible alpha in hindsight ("lasso_best"): an
    oracle lower envelope of every way of tuning alpha, not an algorithm."""
    n = x.shape[0]
    resid = x @ (coefs - w_true[:, None])  # N x K, residual signal at each knot
    err_knots = np.einsum("ij,ij->j", resid, resid) / n
    best_j, best_t, best_e = int(np.argmin(err_knots)), 0.0, float(err_knots.min())
    if coefs.shape[1] > 1:
        a, b = resid[:, :-1], np.diff(resid, axis=1)
        bb = np.einsum("ij,ij->j", b, b)
        ab = np.einsum("ij,ij->j", a, b)
        t = np.clip(np.where(bb > 0, -ab / np.where(bb > 0, bb, 1.0), 0.0), 0.0, 1.0)
        e = (np.einsum("ij,ij->j", a, a) + 2 * t * ab + t * t * bb) / n
        j = int(np.argmin(e))
        if e[j] < best_e:
            best_j, best_t, best_e = j, float(t[j]), float(e[j])
    if best_t > 0.0:
        coef = coefs[:, best_j] + best_t * (coefs[:, best_j + 1] - coefs[:, best_j])
        alpha = float(alphas[best_j] + best_t * (alphas[best_j + 1] - alphas[best_j]))
    else:
        coef, alpha = coefs[:, best_j].copy(), float(alphas[best_j])
    return coef, alpha, max(best_e, 0.0)


def fit_omp(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """scikit-learn OrthogonalMatchingPursuit with the true sparsity k."""
    from sklearn.linear_model import OrthogonalMatchingPursuit

    model = OrthogonalMatchingPursuit(n_nonzero_coefs=min(k, x.shape[0], x.shape[1]), fit_intercept=False)
    model.fit(x, y)
    return model.coef_.copy()


# --------------------------------------------------------------------------------------------------
# Aggregates
# --------------------------------------------------------------------------------------------------


def n_to_reach(ns: list[int], success_rates: list[float], level: float = 0.5) -> int | None:
    """Smallest grid N from which the success rate stays >= ``level`` at every larger grid N
    (None if the last grid point is below it). No interpolation."""
    order = np.argsort(ns)
    ns_sorted = [ns[i] for i in order]
    ok = [success_rates[i] >= level for i in order]
    if not ok or not ok[-1]:
        return None
    j = len(ok) - 1
    while j > 0 and ok[j - 1]:
        j -= 1
    return int(ns_sorted[j])
