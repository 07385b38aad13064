"""The MI-estimation protocol of Abdelaleem, Martini & Nemenman, "Accurate Estimation of Mutual Information in
High Dimensional Data" (arXiv:2506.00330): plain functions, no config, no I/O.

Sources. Only the abstract of the paper (v1, v2) could be read here; the steps below follow the first author's
toolbox, eslam-abdelaleem/NeuralMI, which implements the protocol (``neural_mi/analysis/workflow.py`` of mid-2025
and its successor ``analysis/rigorous.py``; ``training/trainer.py``; ``models/embeddings.py`` (VarMLP);
``datasets/generators.py``; ``defaults.py``). It is not confirmed to be the paper's exact experiment code.

Contents
--------
- Data with known MI (Sec. "synthetic benchmarks", K = 500 in v2): ``latent_rho``, ``latent_mi``,
  ``correlated_latents``, ``random_embedding`` / ``apply_embedding`` / ``invert_embedding``, ``latent_mi_dataset``.
- Max-test training of a critic (separable or probabilistic VSIB) on one data set: ``smooth_history``,
  ``VSIBCritic``, ``make_protocol_critic`` (``lit.critics.train_max_test`` trains it).
- Subsample-and-extrapolate bias correction with a confidence interval: ``gamma_weights``, ``wls_fit``,
  ``interval_at``, ``linear_region``, ``loo_gamma1_shift``, ``extrapolate``, ``gamma_chunks``.
- The consistency decision: ``consistency_flags``.

Units: nats throughout (the toolkit's bounds are in nats); callers convert to bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats
from scipy.ndimage import gaussian_filter1d, median_filter
from torch import nn

from subspacelab.analysis.information import SeparableCritic, _mlp, infonce_lower_bound

__all__ = [
    "latent_rho",
    "latent_mi",
    "correlated_latents",
    "random_embedding",
    "apply_embedding",
    "invert_embedding",
    "latent_mi_dataset",
    "smooth_history",
    "VSIBCritic",
    "make_protocol_critic",
    "gamma_chunks",
    "gamma_weights",
    "WLSFit",
    "wls_fit",
    "interval_at",
    "linear_region",
    "loo_gamma1_shift",
    "Extrapolation",
    "extrapolate",
    "consistency_flags",
]


# --------------------------------------------------------------------------------------------
# Data with known MI: a low-dimensional Gaussian latent pair embedded in K dimensions
# --------------------------------------------------------------------------------------------


def latent_rho(mi_nats: float, latent_dim: int) -> float:
    """Componentwise correlation rho giving ``mi_nats`` in total over ``latent_dim`` independent pairs.

    I = -K_Z/2 log(1 - rho^2)   =>   rho = sqrt(1 - exp(-2 I / K_Z))   (NeuralMI ``mi_to_rho``).
    """
    if latent_dim < 1 or mi_nats < 0:
        raise ValueError(f"need latent_dim >= 1 and mi >= 0, got {latent_dim}, {mi_nats}")
    return math.sqrt(1.0 - math.exp(-2.0 * mi_nats / latent_dim))


def latent_mi(rho: float, latent_dim: int) -> float:
    """Closed form I(Z_x; Z_y) = -K_Z/2 log(1 - rho^2) nats for K_Z independent pairs of correlation rho."""
    if not -1.0 < rho < 1.0:
        raise ValueError(f"need |rho| < 1, got {rho}")
    return -0.5 * latent_dim * math.log1p(-rho * rho)


def correlated_latents(n: int, latent_dim: int, rho: float, rng: np.random.Generator):
    """(Z_x, Z_y), each (n, K_Z), standard normal marginals with corr(Z_x[:, k], Z_y[:, k]) = rho."""
    zx = rng.standard_normal((n, latent_dim))
    zy = rho * zx + math.sqrt(1.0 - rho * rho) * rng.standard_normal((n, latent_dim))
    return zx, zy


def random_embedding(
    latent_dim: int, ambient_dim: int, hidden: int, rng: np.random.Generator, activation: str = "tanh"
) -> dict:
    """A fixed random one-hidden-layer MLP  x = W2 act(W1 z + b1) + b2  from R^{K_Z} to R^K.

    NeuralMI's ``generate_nonlinear_from_latent`` uses Linear(K_Z, 64) - ReLU - Linear(64, K). [reconstructed]
    We default to ``tanh``: tanh is injective, and with K_Z <= hidden <= K the Gaussian weight matrices have full
    column rank almost surely, so the map is injective and I(X; Y) = I(Z_x; Z_y) exactly (MI is invariant under
    injective maps). A ReLU layer can fold the latent space and lose information. ``activation="linear"``
    gives x = W2 W1 z + b (a linear embedding). Weights W ~ N(0, 1/fan_in), biases N(0, 1) for the hidden layer.
    """
    if not latent_dim <= hidden <= ambient_dim:
        raise ValueError(
            f"need latent_dim <= hidden <= ambient_dim for an injective map, got "
            f"{latent_dim}, {hidden}, {ambient_dim}"
        )
    if activation not in ("tanh", "relu", "linear"):
        raise ValueError(f"activation must be tanh, relu or linear, got {activation!r}")
    return {
        "w1": rng.standard_normal((hidden, latent_dim)) / math.sqrt(latent_dim),
        "b1": rng.standard_normal(hidden) * (0.0 if activation == "linear" else 1.0),
        "w2": rng.standard_normal((ambient_dim, hidden)) / math.sqrt(hidden),
        "b2": 0.1 * rng.standard_normal(ambient_dim),
        "activation": activation,
    }


_ACT = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0), "linear": lambda a: a}


def apply_embedding(emb: dict, z: np.ndarray) -> np.ndarray:
    """x = W2 act(W1 z + b1) + b2 for every row of z."""
    h = _ACT[emb["activation"]](z @ emb["w1"].T + emb["b1"])
    return h @ emb["w2"].T + emb["b2"]


def invert_embedding(emb: dict, x: np.ndarray) -> np.ndarray:
    """Recover z from x = apply_embedding(emb, z) (tanh or linear embeddings): the proof that the map loses
    nothing. h = W2^+ (x - b2), then z = W1^+ (atanh(h) - b1) (least squares, exact on the image)."""
    if emb["activation"] == "relu":
        raise ValueError("a ReLU embedding is not invertible in general")
    h = np.linalg.lstsq(emb["w2"], (x - emb["b2"]).T, rcond=None)[0].T
    if emb["activation"] == "tanh":
        h = np.arctanh(np.clip(h, -1 + 1e-15, 1 - 1e-15))
    return np.linalg.lstsq(emb["w1"], (h - emb["b1"]).T, rcond=None)[0].T


def latent_mi_dataset(
    n: int,
    latent_dim: int,
    ambient_dim: int,
    mi_nats: float,
    seed: int,
    *,
    hidden: int = 64,
    activation: str = "tanh",
    return_latents: bool = False,
):
    """N samples of (X, Y) in R^K x R^K with I(X; Y) = ``mi_nats``: correlated Gaussian latents of dimension K_Z
    pushed through two independent random embeddings (``random_embedding``). Returns float32 (x, y) and, with
    ``return_latents``, also (z_x, z_y) and the two embeddings. Hidden width is min(hidden, K), at least K_Z."""
    rng = np.random.default_rng(seed)
    rho = latent_rho(mi_nats, latent_dim)
    zx, zy = correlated_latents(n, latent_dim, rho, rng)
    width = max(latent_dim, min(hidden, ambient_dim))
    ex = random_embedding(latent_dim, ambient_dim, width, rng, activation)
    ey = random_embedding(latent_dim, ambient_dim, width, rng, activation)
    x = apply_embedding(ex, zx).astype(np.float32)
    y = apply_embedding(ey, zy).astype(np.float32)
    if return_latents:
        return x, y, {"zx": zx, "zy": zy, "ex": ex, "ey": ey, "rho": rho}
    return x, y


# --------------------------------------------------------------------------------------------
# Max-test training (one data set)
# --------------------------------------------------------------------------------------------


def smooth_history(history, sigma: float = 1.0, median_window: int = 3) -> np.ndarray:
    """Median filter (``median_window``) then Gaussian filter (``sigma``), both mode="reflect", of a held-out MI
    curve; NaNs are first replaced by the last finite value (NeuralMI ``Trainer._smooth``)."""
    h = np.array(history, dtype=float)
    if h.size == 0 or np.all(np.isnan(h)):
        return h
    if np.any(np.isnan(h)):
        finite = h[~np.isnan(h)]
        h[np.isnan(h)] = finite[-1]
    if median_window > 1 and h.size >= median_window:
        h = median_filter(h, size=median_window, mode="reflect")
    if sigma > 0 and h.size > 1:
        h = gaussian_filter1d(h, sigma=sigma, mode="reflect")
    return h


class VSIBCritic(nn.Module):
    """Probabilistic separable critic (the paper's "VSIB" family, v2 abstract; NeuralMI ``VarMLP`` with
    ``use_variational``): each encoder outputs a Gaussian q(z|x) = N(mu(x), diag exp(logvar(x))).

    Training: z_x, z_y are sampled by reparameterisation and the scores are z_x^T z_y; ``kl`` holds the batch
    mean of KL(q(z|x) || N(0, I)) (summed over dims) + the same for y, so that the loss is kl - beta * bound
    (NeuralMI's DVSIB loss, beta = 1024 by default; its later VarMLP divides the summed KL by the batch size, its
    mid-2025 one did not -- we follow the later one [reconstructed]). Evaluation (``eval()``): scores use the
    means, mu_x^T mu_y."""

    def __init__(self, dx: int, dy: int, hidden: int = 64, embed_dim: int = 64, layers: int = 2):
        super().__init__()
        self.g = _mlp(dx, hidden, 2 * embed_dim, layers)
        self.h = _mlp(dy, hidden, 2 * embed_dim, layers)
        self.embed_dim = embed_dim
        self.kl = torch.zeros(())

    def _encode(self, net: nn.Module, a: torch.Tensor):
        mu, logvar = net(a).split(self.embed_dim, dim=-1)
        if not self.training:
            return mu, torch.zeros((), dtype=a.dtype)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum() / a.shape[0]
        return z, kl

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        zx, klx = self._encode(self.g, x)
        zy, kly = self._encode(self.h, y)
        self.kl = klx + kly
        return zx @ zy.T


def make_protocol_critic(kind: str, dx: int, dy: int, hidden: int = 64, embed_dim: int = 64, layers: int = 2):
    """``"separable"`` (toolkit ``SeparableCritic``, f = g(x)^T h(y)) or ``"vsib"`` (``VSIBCritic``)."""
    if kind == "separable":
        return SeparableCritic(dx, dy, hidden, embed_dim, layers)
    if kind == "vsib":
        return VSIBCritic(dx, dy, hidden, embed_dim, layers)
    raise ValueError(f"unknown critic {kind!r}; use 'separable' or 'vsib'")


@torch.no_grad()
def _full_bound(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """InfoNCE on one (n, n) score matrix of all given pairs (capped at log n); NaN for n < 2."""
    if x.shape[0] < 2:
        return float("nan")
    return float(infonce_lower_bound(net(x, y)))


# --------------------------------------------------------------------------------------------
# Subsample-and-extrapolate
# --------------------------------------------------------------------------------------------


def gamma_chunks(n: int, gammas, rng: np.random.Generator) -> dict[int, list[np.ndarray]]:
    """For every gamma, the N indices split into gamma near-equal disjoint chunks of one master permutation
    (so the gamma = 2 chunks are halves of the gamma = 1 set; NeuralMI ``_prepare_tasks``)."""
    master = rng.permutation(n)
    return {int(g): np.array_split(master, int(g)) for g in gammas}


def gamma_weights(gammas) -> np.ndarray:
    """WLS weight of every row: 1 / (number of rows with that gamma), so every gamma level weighs the same."""
    g = np.asarray(gammas)
    values, counts = np.unique(g, return_counts=True)
    count_of = dict(zip(values.tolist(), counts.tolist(), strict=True))
    return np.array([1.0 / count_of[v] for v in g.tolist()])


@dataclass
class WLSFit:
    """Weighted least squares y ~ X beta (statsmodels ``WLS`` conventions)."""

    params: np.ndarray
    cov: np.ndarray  # scale * (X^T W X)^{-1}
    scale: float  # sum w r^2 / dof
    dof: int
    resid: np.ndarray
    weights: np.ndarray
    design: np.ndarray


def wls_fit(design, y, weights) -> WLSFit:
    """beta = (X^T W X)^{-1} X^T W y;  scale = sum_i w_i r_i^2 / (n - p);  Cov(beta) = scale (X^T W X)^{-1}.

    The errors are modelled as N(0, scale / w_i), so with w_i = 1/count(gamma_i) the noise variance of a run
    grows with the number of chunks gamma -- right for an estimate from N/gamma samples. dof = n - p must be >= 1.
    """
    x = np.asarray(design, dtype=float)
    yv = np.asarray(y, dtype=float)
    w = np.asarray(weights, dtype=float)
    n, p = x.shape
    if n - p < 1:
        raise ValueError(f"need more rows than parameters, got {n} rows for {p} parameters")
    sw = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(x * sw[:, None], yv * sw, rcond=None)
    resid = yv - x @ beta
    scale = float(np.sum(w * resid**2) / (n - p))
    xtwx_inv = np.linalg.inv((x * w[:, None]).T @ x)
    return WLSFit(beta, scale * xtwx_inv, scale, n - p, resid, w, x)


def interval_at(fit: WLSFit, x0, level: float, kind: str = "mean") -> tuple[float, float]:
    """Two-sided t interval at design row x0: ``kind="mean"`` for the fitted mean (statsmodels
    ``conf_int(obs=False)``), ``"prediction"`` adds the residual variance ``scale`` of a new unit-weight run
    (``obs=True``). Student t with ``dof`` degrees of freedom."""
    x0 = np.asarray(x0, dtype=float)
    centre = float(x0 @ fit.params)
    var = float(x0 @ fit.cov @ x0) + (fit.scale if kind == "prediction" else 0.0)
    if kind not in ("mean", "prediction"):
        raise ValueError(f"kind must be mean or prediction, got {kind!r}")
    half = float(stats.t.ppf(0.5 + level / 2.0, fit.dof)) * math.sqrt(max(var, 0.0))
    return centre - half, centre + half


def _design(gammas, degree: int) -> np.ndarray:
    g = np.asarray(gammas, dtype=float)
    return np.vstack([g**k for k in range(degree + 1)]).T


def linear_region(
    gammas,
    values,
    *,
    criterion: str = "ratio",
    delta: float = 0.1,
    t_threshold: float = 2.0,
    min_points: int = 5,
) -> tuple[list[int], bool, dict]:
    """Find the gammas where MI(gamma) is linear: fit MI = a0 + a1 gamma + a2 gamma^2 by WLS (``gamma_weights``)
    and drop the largest gamma until the quadratic term is negligible.

    ``criterion="ratio"``: |a2 / a1| < ``delta`` (NeuralMI mid-2025 ``workflow.py``, delta = 0.1: the form the
    paper-era code used); ``"t"``: |a2| / SE(a2) < ``t_threshold`` (NeuralMI's later ``rigorous.py``). Never goes
    below ``min_points`` distinct gammas (nor below 3, the quadratic's minimum). Returns (kept gammas, converged,
    stats of the last quadratic fit)."""
    if criterion not in ("ratio", "t"):
        raise ValueError(f"criterion must be ratio or t, got {criterion!r}")
    g = np.asarray(gammas, dtype=float)
    v = np.asarray(values, dtype=float)
    kept = sorted({int(a) for a in g})
    converged = False
    info = {"a1": math.nan, "a2": math.nan, "ratio": math.nan, "t": math.nan}
    floor = max(int(min_points), 3)
    while len(kept) >= 3:
        mask = np.isin(g, kept)
        if mask.sum() < 4:
            break
        fit = wls_fit(_design(g[mask], 2), v[mask], gamma_weights(g[mask]))
        a1, a2 = float(fit.params[1]), float(fit.params[2])
        se2 = math.sqrt(max(float(fit.cov[2, 2]), 0.0))
        # a quadratic term below rounding level over the fitted range is exactly zero curvature (an exact line)
        flat = abs(a2) * g[mask].max() ** 2 <= 1e-10 * (np.abs(v[mask]).max() + 1e-300)
        info = {
            "a1": a1,
            "a2": a2,
            "ratio": 0.0 if flat else (abs(a2 / a1) if a1 != 0 else math.inf),
            "t": 0.0 if flat else (abs(a2) / se2 if se2 > 0 else math.inf),
        }
        stat, thr = (info["ratio"], delta) if criterion == "ratio" else (info["t"], t_threshold)
        if stat < thr:
            converged = True
            break
        if len(kept) <= floor:
            break
        kept.pop()
    return kept, converged, info


def loo_gamma1_shift(gammas, values, kept) -> float:
    """Relative change of the extrapolated intercept when the gamma = 1 run is left out of the linear fit:
    |I_full - I_loo| / (|I_full| + 1e-8) (NeuralMI ``_compute_fit_diagnostics`` check B); NaN if not computable."""
    g = np.asarray(gammas, dtype=float)
    v = np.asarray(values, dtype=float)
    mask = np.isin(g, kept)
    loo = mask & (g != 1)
    if not np.any(mask & (g == 1)) or len(np.unique(g[loo])) < 2 or loo.sum() < 3:
        return math.nan
    full = wls_fit(_design(g[mask], 1), v[mask], gamma_weights(g[mask])).params[0]
    part = wls_fit(_design(g[loo], 1), v[loo], gamma_weights(g[loo])).params[0]
    return float(abs(full - part) / (abs(full) + 1e-8))


@dataclass
class Extrapolation:
    """Result of the subsample-and-extrapolate step."""

    estimate: float  # intercept at gamma = 0 (N -> infinity)
    slope: float
    ci_low: float
    ci_high: float
    level: float
    kind: str
    gammas_used: list[int]
    converged: bool
    enough_points: bool
    loo_shift: float
    curvature: dict = field(default_factory=dict)


def extrapolate(
    gammas,
    values,
    *,
    level: float = 0.68,
    kind: str = "mean",
    criterion: str = "ratio",
    delta: float = 0.1,
    t_threshold: float = 2.0,
    min_points: int = 5,
) -> Extrapolation:
    """MI(N/gamma) ~ I + a gamma / N: fit the linear region (``linear_region``) by WLS and read the intercept at
    gamma = 0 with its ``level`` interval (``interval_at``; NeuralMI ``_extrapolate_mi``: 68% by default)."""
    g = np.asarray(gammas, dtype=float)
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    g, v = g[ok], v[ok]
    kept, converged, info = linear_region(
        g, v, criterion=criterion, delta=delta, t_threshold=t_threshold, min_points=min_points
    )
    mask = np.isin(g, kept)
    fit = wls_fit(_design(g[mask], 1), v[mask], gamma_weights(g[mask]))
    lo, hi = interval_at(fit, [1.0, 0.0], level, kind)
    return Extrapolation(
        estimate=float(fit.params[0]),
        slope=float(fit.params[1]),
        ci_low=lo,
        ci_high=hi,
        level=level,
        kind=kind,
        gammas_used=kept,
        converged=converged,
        enough_points=len(kept) >= min_points,
        loo_shift=loo_gamma1_shift(g, v, kept),
        curvature=info,
    )


def consistency_flags(
    ex: Extrapolation,
    *,
    leverage_threshold: float = 0.2,
    saturation: dict | None = None,
    saturation_threshold: float = 0.85,
) -> dict:
    """The protocol's self-checks on one extrapolation; ``reliable`` is their conjunction.

    - ``linear``: a linear region in gamma was found (``converged``) with at least ``min_points`` gammas;
    - ``leverage``: leaving out gamma = 1 moves the intercept by at most ``leverage_threshold`` (relative);
    - ``saturation`` (diagnostic, reported apart; NeuralMI's later code also gates on it): the mean per-gamma
      train MI of the gammas used stays below ``saturation_threshold`` x its ceiling log(n_train).
      ``saturation`` maps gamma -> mean(train_mi / ceiling).
    """
    linear = bool(ex.converged and ex.enough_points)
    leverage = not (math.isfinite(ex.loo_shift) and ex.loo_shift > leverage_threshold)
    saturated = []
    if saturation:
        saturated = [g for g in ex.gammas_used if saturation.get(g, 0.0) > saturation_threshold]
    return {
        "linear": linear,
        "leverage_ok": leverage,
        "reliable": linear and leverage,
        "saturated_gammas": saturated,
        "reliable_strict": linear and leverage and not saturated,
    }
