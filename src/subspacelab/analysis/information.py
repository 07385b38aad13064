"""Entropy and mutual-information estimators: plain functions on tensors (numpy accepted where cheap).

Contents
--------
- Closed form:   ``gaussian_mi`` (MI of a jointly Gaussian pair, ground truth for tests).
- k-NN:          ``ksg_mi`` (Kraskov, Stoegbauer & Grassberger 2004, estimator 1, max-norm) and
                 ``ksg_entropy`` (Kozachenko-Leonenko entropy as written in the same paper, Sec. II).
- Critic bounds: ``infonce_lower_bound``, ``nwj_lower_bound``, ``mine_lower_bound`` on a score matrix, the
                 critics ``SeparableCritic`` / ``ConcatCritic`` (Poole et al. 2019, "On variational bounds of
                 mutual information"; Belghazi et al. 2018, MINE); ``lit.critics.train_critic_mi`` trains them.
- Diffusion:     ``diffusion_spectral_entropy`` (DSE), ``diffusion_spectral_mutual_information`` (DSMI) and the
                 binning baseline ``classic_shannon_entropy`` (CSE) of Liao, Liu et al. 2023, "Assessing Neural
                 Network Representations During Training Using Noise-Resilient Diffusion Spectral Entropy"
                 (arXiv 2312.04823), following the official repository ChenLiu-1996/DiffusionSpectralEntropy:
                 ``api/diffusion.py`` (kernel), ``dse/dse.py`` and ``api/dse.py`` (entropy), ``api/dsmi.py`` and
                 ``dse/dsmi.py`` (mutual information).

Units: ``gaussian_mi``, ``ksg_mi`` and the critic bounds are in nats; DSE, DSMI and CSE are in bits (log2), as in
the official DSE code.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma
from torch import nn

__all__ = [
    "gaussian_mi",
    "ksg_mi",
    "ksg_entropy",
    "infonce_lower_bound",
    "nwj_lower_bound",
    "mine_lower_bound",
    "SeparableCritic",
    "ConcatCritic",
    "make_critic",
    "diffusion_operator",
    "spectral_entropy",
    "diffusion_spectral_entropy",
    "classic_shannon_entropy",
    "reference_clusters",
    "diffusion_spectral_mutual_information",
]

_EPS64 = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------------------------


def _to_numpy_2d(a) -> np.ndarray:
    """Samples as a float64 (N, d) array; a 1-D input is one column."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def _to_tensor(a, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().to(dtype=dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype)


# --------------------------------------------------------------------------------------------
# Closed form
# --------------------------------------------------------------------------------------------


def gaussian_mi(cov, dx: int) -> float:
    """Mutual information (nats) between the first ``dx`` and the remaining coordinates of a Gaussian.

    For (X, Y) ~ N(mu, Sigma) with Sigma = [[S_xx, S_xy], [S_yx, S_yy]] (Cover & Thomas, Ch. 8):

        I(X; Y) = 1/2 [log det S_xx + log det S_yy - log det Sigma].

    With unit variances and componentwise correlation rho over d pairs this is -d/2 log(1 - rho^2).
    """
    c = _to_numpy_2d(cov)
    if c.shape[0] != c.shape[1] or not 0 < dx < c.shape[0]:
        raise ValueError(f"need a square covariance and 0 < dx < {c.shape[0]}, got {c.shape} and dx={dx}")
    logdet = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    return float(0.5 * (logdet(c[:dx, :dx]) + logdet(c[dx:, dx:]) - logdet(c)))


# --------------------------------------------------------------------------------------------
# KSG
# --------------------------------------------------------------------------------------------


def ksg_mi(x, y, k: int = 3, *, standardize: bool = True, noise: float = 0.0, seed: int = 0) -> float:
    """Kraskov-Stoegbauer-Grassberger MI estimator 1 (Phys. Rev. E 69, 066138, 2004, eq. 8), in nats.

    With eps_i the max-norm distance from z_i = (x_i, y_i) to its k-th nearest neighbour in the joint space,
    n_x(i) = #{j != i : ||x_j - x_i||_inf < eps_i} and n_y(i) likewise,

        I = psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >.

    The marginal counts are strict (distance < eps_i), implemented as radius ``nextafter(eps_i, 0)``, as in
    scikit-learn's ``_compute_mi_cc``. ``standardize`` divides every column by its standard deviation
    (ddof 0, like ``sklearn.preprocessing.scale(with_mean=False)``); the max-norm makes the estimate depend
    on the relative scale of the columns, so this is on by default. ``noise`` adds ``noise * N(0, 1)`` to
    every standardised entry (seeded) to break ties, as KSG advise for discretised data; sklearn uses 1e-10.
    Unlike sklearn, a negative estimate is returned as is (not clipped at 0). Vectorised with scipy cKDTree.
    """
    xs, ys = _to_numpy_2d(x), _to_numpy_2d(y)
    n = xs.shape[0]
    if ys.shape[0] != n:
        raise ValueError(f"x and y need the same number of samples, got {n} and {ys.shape[0]}")
    if not 1 <= k < n:
        raise ValueError(f"need 1 <= k < N, got k={k}, N={n}")
    if standardize:
        xs, ys = _standardize_columns(xs), _standardize_columns(ys)
    if noise > 0:
        rng = np.random.default_rng(seed)
        xs = xs + noise * rng.standard_normal(xs.shape)
        ys = ys + noise * rng.standard_normal(ys.shape)
    joint = np.hstack([xs, ys])
    # k + 1 because the query point itself comes back at distance 0.
    eps = cKDTree(joint).query(joint, k=k + 1, p=np.inf)[0][:, -1]
    radius = np.nextafter(eps, 0)
    nx = cKDTree(xs).query_ball_point(xs, radius, p=np.inf, return_length=True) - 1
    ny = cKDTree(ys).query_ball_point(ys, radius, p=np.inf, return_length=True) - 1
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1)) - np.mean(digamma(ny + 1)))


def ksg_entropy(x, k: int = 3) -> float:
    """Kozachenko-Leonenko k-NN differential entropy (nats), max-norm form (as in Kraskov et al. 2004, Sec. II).

    With r_i the max-norm distance from x_i to its k-th nearest neighbour and d the dimension,

        H = psi(N) - psi(k) + d < log(2 r_i) >        (the max-norm unit ball has volume c_d = 1).

    Closed-form check: a Gaussian has H = 1/2 log det(2 pi e Sigma). No standardisation (entropy is not
    scale invariant); duplicate points give r_i = 0 and -inf.
    """
    xs = _to_numpy_2d(x)
    n, d = xs.shape
    if not 1 <= k < n:
        raise ValueError(f"need 1 <= k < N, got k={k}, N={n}")
    r = cKDTree(xs).query(xs, k=k + 1, p=np.inf)[0][:, -1]
    return float(digamma(n) - digamma(k) + d * np.mean(np.log(2.0 * r)))


def _standardize_columns(a: np.ndarray) -> np.ndarray:
    std = a.std(axis=0)
    return a / np.where(std > 0, std, 1.0)


# --------------------------------------------------------------------------------------------
# Variational (critic) lower bounds on a score matrix scores[i, j] = f(x_i, y_j)
# --------------------------------------------------------------------------------------------


def _scores_tensor(scores) -> torch.Tensor:
    s = (
        scores
        if isinstance(scores, torch.Tensor)
        else torch.as_tensor(np.asarray(scores), dtype=torch.float64)
    )
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] < 2:
        raise ValueError(f"scores must be a square (N, N) matrix with N >= 2, got {tuple(s.shape)}")
    return s


def _logmeanexp_offdiag(s: torch.Tensor) -> torch.Tensor:
    """log of the mean of exp(s_ij) over the N(N-1) pairs i != j (samples of the product of marginals)."""
    n = s.shape[0]
    off = s.masked_fill(torch.eye(n, dtype=torch.bool, device=s.device), float("-inf"))
    return torch.logsumexp(off.reshape(-1), 0) - math.log(n * (n - 1))


def infonce_lower_bound(scores) -> torch.Tensor:
    """InfoNCE bound (van den Oord et al. 2018; Poole et al. 2019, Sec. 2.3), nats, differentiable 0-d tensor.

    I_NCE = 1/N sum_i [ f(x_i, y_i) - log( 1/N sum_j exp f(x_i, y_j) ) ]
          = mean_i( s_ii - logsumexp_j s_ij ) + log N        <=  log N   for any scores.
    """
    s = _scores_tensor(scores)
    return (s.diagonal() - torch.logsumexp(s, dim=1)).mean() + math.log(s.shape[0])


def nwj_lower_bound(scores) -> torch.Tensor:
    """NWJ / f-GAN KL bound (Nguyen, Wainwright & Jordan 2010; Poole et al. 2019, Sec. 2.2), nats.

        I_NWJ = E_p[f] - e^{-1} E_{p(x)p(y)}[e^f],
    with E_p over the diagonal (paired samples) and E_{p(x)p(y)} over the off-diagonal pairs of the batch.
    Optimal critic f* = 1 + log p(y|x)/p(y).
    """
    s = _scores_tensor(scores)
    return s.diagonal().mean() - torch.exp(_logmeanexp_offdiag(s) - 1.0)


def mine_lower_bound(scores) -> torch.Tensor:
    """Donsker-Varadhan bound used by MINE (Belghazi et al. 2018; Poole et al. 2019, Sec. 2.2), nats.

        I_DV = E_p[f] - log E_{p(x)p(y)}[e^f],
    marginal samples taken as the off-diagonal pairs of the batch (Poole et al.'s construction; Belghazi et
    al. shuffle y instead). This is the value; the bias-corrected MINE gradient lives in ``lit.critics.train_critic_mi``.
    """
    s = _scores_tensor(scores)
    return s.diagonal().mean() - _logmeanexp_offdiag(s)


_BOUNDS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "infonce": infonce_lower_bound,
    "nwj": nwj_lower_bound,
    "mine": mine_lower_bound,
}


# --------------------------------------------------------------------------------------------
# Critics
# --------------------------------------------------------------------------------------------


def _mlp(d_in: int, hidden: int, d_out: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    width = d_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    mods.append(nn.Linear(width, d_out))
    return nn.Sequential(*mods)


class SeparableCritic(nn.Module):
    """f(x, y) = g(x)^T h(y) with two MLPs (the "separable" critic of Poole et al. 2019). Returns (B, B) scores."""

    def __init__(self, dx: int, dy: int, hidden: int = 64, embed_dim: int = 16, layers: int = 2):
        super().__init__()
        self.g = _mlp(dx, hidden, embed_dim, layers)
        self.h = _mlp(dy, hidden, embed_dim, layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.g(x) @ self.h(y).T


class ConcatCritic(nn.Module):
    """f(x, y) = MLP([x, y]) evaluated on all B^2 pairs (Poole et al. 2019 "concat"). Returns (B, B) scores."""

    def __init__(self, dx: int, dy: int, hidden: int = 64, layers: int = 2):
        super().__init__()
        self.f = _mlp(dx + dy, hidden, 1, layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], y.shape[0]
        pairs = torch.cat([x[:, None, :].expand(b, c, -1), y[None, :, :].expand(b, c, -1)], dim=-1)
        return self.f(pairs).squeeze(-1)


def make_critic(
    kind: str, dx: int, dy: int, hidden: int = 64, embed_dim: int = 16, layers: int = 2
) -> nn.Module:
    """``"separable"`` or ``"concat"`` critic for inputs of dimension dx and dy."""
    if kind == "separable":
        return SeparableCritic(dx, dy, hidden, embed_dim, layers)
    if kind == "concat":
        return ConcatCritic(dx, dy, hidden, layers)
    raise ValueError(f"unknown critic {kind!r}; use 'separable' or 'concat'")


def _mine_surrogate(
    s: torch.Tensor, ema: torch.Tensor | None, rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """MINE's bias-corrected objective (Belghazi et al. 2018, Sec. 3.2).

    grad log E_q[e^f] = E_q[grad f e^f] / E_q[e^f]; MINE replaces the minibatch denominator by a moving
    average m <- (1 - rate) m + rate * E_q[e^f]. The surrogate E_p[f] - E_q[e^f] / stopgrad(m) has that
    gradient. Returns (surrogate, new m).
    """
    marg = torch.exp(_logmeanexp_offdiag(s))
    m = marg.detach() if ema is None else (1.0 - rate) * ema + rate * marg.detach()
    return s.diagonal().mean() - marg / m, m


@torch.no_grad()
def _evaluate_bound(net, bound, x, y, batch_size, batches, gen) -> float:
    m = x.shape[0]
    b = min(batch_size, m)
    vals = [
        float(bound(net(x[i], y[i]))) for i in (torch.randperm(m, generator=gen)[:b] for _ in range(batches))
    ]
    return float(np.mean(vals))


# --------------------------------------------------------------------------------------------
# Diffusion spectral entropy (DSE) and mutual information (DSMI)
# --------------------------------------------------------------------------------------------


def diffusion_operator(z, sigma: float = 10.0, *, alpha: float = 0.0, dtype: torch.dtype = torch.float64):
    """Symmetric conjugate K of the diffusion matrix P of the data graph (official ``api/diffusion.py``).

    G_ij = exp(-||z_i - z_j||^2 / (2 sigma^2)) / (sigma sqrt(2 pi)) (fixed-bandwidth Gaussian kernel;
    the official default sigma = 10, no input normalisation), d = G 1, and

        K = D^{-1/2} G D^{-1/2},   P = D^{-1} G = D^{-1/2} K D^{1/2},

    so K is symmetric with exactly the eigenvalues of P (row-stochastic, top eigenvalue 1). The official code
    calls this the "anisotropic" normalisation. The constant 1/(sigma sqrt(2 pi)) cancels in K and is left
    out. ``alpha`` > 0 is our extension, not in the official API: Coifman-Lafon density normalisation
    G <- G / (q q^T)^alpha with q = G 1 before the same step (alpha = 0 reproduces the official operator).
    Squared distances come from the Gram matrix of the centred points (translation invariant).
    """
    zt = _to_tensor(z, dtype)
    if zt.ndim != 2:
        raise ValueError(f"z must be (N, D), got {tuple(zt.shape)}")
    zt = zt - zt.mean(dim=0)
    sq = (zt * zt).sum(dim=1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * (zt @ zt.T)).clamp_min_(0.0)
    d2.fill_diagonal_(0.0)
    g = torch.exp_(d2.mul_(-0.5 / sigma**2))
    if alpha:
        q = g.sum(dim=1).pow(-alpha)
        g = g * q[:, None] * q[None, :]
    r = g.sum(dim=1).rsqrt()
    return g.mul_(r[:, None]).mul_(r[None, :])


def spectral_entropy(eigvals, t: int = 1, *, drop_trivial: bool = False) -> float:
    """Entropy (bits) of the normalised powered spectrum (official ``dse/dse.py``, DSE definition).

        p_i = |lambda_i|^t / sum_j |lambda_j|^t,   DSE = - sum_i (p_i + eps) log2 (p_i + eps),

    with eps the float64 machine epsilon added as the official code does (its effect is ~1e-11 bits).
    ``drop_trivial`` removes the largest eigenvalue (the constant eigenvector's 1) first, as the older
    ``api/dse.py`` does; the packaged ``dse/dse.py`` keeps it (default here).
    """
    lam = torch.as_tensor(eigvals, dtype=torch.float64).flatten()
    if drop_trivial:
        lam = torch.sort(lam, descending=True).values[1:]
    a = lam.abs().pow(t)
    p = a / a.sum() + _EPS64
    return float(-(p * torch.log2(p)).sum())


def _subsample_rows(z, max_n: int | None, seed: int | None):
    """The official ``max_N`` step: ``random.seed(seed); random.sample(range(N), k=max_n)`` when N > max_n."""
    n = len(z)
    if max_n is None or n <= max_n:
        return z
    rng = random.Random(seed) if seed is not None else random.Random()
    return z[np.array(rng.sample(range(n), k=max_n))]


def diffusion_spectral_entropy(
    z,
    sigma: float = 10.0,
    t: int = 1,
    *,
    drop_trivial: bool = False,
    max_n: int | None = 10000,
    seed: int | None = 0,
    alpha: float = 0.0,
    dtype: torch.dtype = torch.float64,
) -> float:
    """Diffusion spectral entropy (bits) of N points z (N, D) (Liao, Liu et al. 2023; ``dse/dse.py``).

    DSE = H( |lambda|^t / sum |lambda|^t ), lambda the eigenvalues of the diffusion matrix P of the
    Gaussian-kernel graph (bandwidth ``sigma``, default 10 as in the official code), computed exactly with
    ``torch.linalg.eigvalsh`` on the symmetric conjugate K (see ``diffusion_operator``); t = diffusion time
    (default 1, the value the repository uses in its later experiments). If N > ``max_n`` a seeded random
    subset of ``max_n`` rows is used first (official default 10000, same Python ``random`` draw).
    """
    rows = _subsample_rows(z, max_n, seed)
    k = diffusion_operator(rows, sigma, alpha=alpha, dtype=dtype)
    return spectral_entropy(torch.linalg.eigvalsh(k), t, drop_trivial=drop_trivial)


def classic_shannon_entropy(z, num_bins_per_dim: int = 2) -> float:
    """Classic Shannon entropy (bits) by binning, the baseline "CSE" of the DSE paper (``dse/dse.py``).

    Every dimension is min-max scaled to [0, 1] and cut into ``num_bins_per_dim`` equal bins (np.digitize
    with left edges linspace(0, 1, b + 1)[:-1]); each point becomes a tuple of bin indices and
    CSE = - sum_c (p_c + eps) log2 (p_c + eps) over the occupied cells c. A constant dimension falls in one
    bin (the official code divides 0/0 there; np.digitize then puts every NaN in the same bin too).
    """
    a = _to_numpy_2d(z)
    lo, span = a.min(axis=0), np.ptp(a, axis=0)
    scaled = (a - lo) / np.where(span > 0, span, 1.0)
    cells = np.digitize(scaled, bins=np.linspace(0.0, 1.0, num_bins_per_dim + 1)[:-1])
    counts = np.unique(cells, axis=0, return_counts=True)[1]
    p = counts / counts.sum() + _EPS64
    return float(-np.sum(p * np.log2(p)))


def reference_clusters(y, n_clusters: int = 10, *, discrete: bool | None = None, seed: int = 0) -> np.ndarray:
    """Discrete labels for the reference variable of DSMI (official ``api/dsmi.py``, step 1).

    - discrete (default: 1 column of integer dtype): the labels themselves;
    - one continuous column: min-max scale and ``n_clusters`` equal-width bins (np.digitize as in CSE);
    - several columns: sklearn ``SpectralClustering(n_clusters, affinity="nearest_neighbors",
      assign_labels="cluster_qr", random_state=seed)`` (official: random_state 0).
    """
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    y2 = y.reshape(-1, 1) if y.ndim == 1 else y
    if discrete is None:
        discrete = y2.shape[1] == 1 and np.issubdtype(y2.dtype, np.integer)
    if discrete:
        if y2.shape[1] != 1:
            raise ValueError("discrete labels must be one column")
        return y2[:, 0]
    if y2.shape[1] == 1:
        v = y2[:, 0].astype(np.float64)
        span = np.ptp(v)
        scaled = (v - v.min()) / (span if span > 0 else 1.0)
        return np.digitize(scaled, bins=np.linspace(0.0, 1.0, n_clusters + 1)[:-1])
    from sklearn.cluster import SpectralClustering

    op = SpectralClustering(
        n_clusters=n_clusters, affinity="nearest_neighbors", assign_labels="cluster_qr", random_state=seed
    )
    return op.fit(y2.astype(np.float64)).labels_


def diffusion_spectral_mutual_information(
    z,
    y,
    sigma: float = 10.0,
    t: int = 1,
    *,
    num_repetitions: int = 5,
    n_clusters: int = 10,
    discrete: bool | None = None,
    clusters=None,
    seed: int | None = 0,
    drop_trivial: bool = False,
    entropy: str = "dse",
    num_bins_per_dim: int = 2,
    max_n: int | None = 10000,
    dtype: torch.dtype = torch.float64,
) -> float:
    """Diffusion spectral mutual information DSMI(Z; Y) in bits (Liao, Liu et al. 2023; ``api/dsmi.py``).

    Y is first made discrete (``reference_clusters``; pass ``clusters`` to reuse labels). Then

        DSMI(Z; Y) = sum_c p(Y = c) [ DSE(Z*_c) - DSE(Z | Y = c) ],

    where Z*_c is a uniformly random subset of Z of size |{Y = c}| and DSE(Z*_c) is averaged over
    ``num_repetitions`` draws (default 5), so that both entropies are computed on the same number of points.
    Subsets are drawn exactly like the official code: for every class (in sorted label order) Python's
    ``random`` is re-seeded with ``seed`` and ``random.sample(range(N), k=n_c)`` is called
    ``num_repetitions`` times (so equal-size classes get the same subsets). ``entropy="cse"`` swaps DSE for
    ``classic_shannon_entropy`` (the paper's CSMI baseline).
    """
    if entropy == "dse":

        def ent(rows):
            return diffusion_spectral_entropy(
                rows, sigma, t, drop_trivial=drop_trivial, max_n=max_n, seed=0, dtype=dtype
            )
    elif entropy == "cse":

        def ent(rows):
            return classic_shannon_entropy(rows, num_bins_per_dim)
    else:
        raise ValueError(f"unknown entropy {entropy!r}; use 'dse' or 'cse'")
    zt = _to_tensor(z, dtype)
    labels = (
        np.asarray(clusters).reshape(-1)
        if clusters is not None
        else reference_clusters(y, n_clusters, discrete=discrete)
    )
    n = labels.shape[0]
    if zt.shape[0] != n:
        raise ValueError(f"z and y need the same number of samples, got {zt.shape[0]} and {n}")
    values, counts = np.unique(labels, return_counts=True)
    shared = random.Random()
    total = 0.0
    for c, n_c in zip(values, counts, strict=True):
        h_cond = ent(zt[torch.from_numpy(labels == c)])
        rng = random.Random(seed) if seed is not None else shared
        h_marg = np.mean(
            [ent(zt[np.array(rng.sample(range(n), k=int(n_c)))]) for _ in range(num_repetitions)]
        )
        total += n_c / n * (h_marg - h_cond)
    return float(total)
