"""Near-orthogonal packing, Johnson-Lindenstrauss-type fits and representational capacity: plain functions.

Source: A. Guha (2026), "Representational Capacity: Geometric Limits on Feature Representation in Transformer
Language Models", arXiv 2606.02765, and its official code ``Alex-Guha/representational-capacity`` (read, not
copied):

- ``code/vector_packing/optimized_packing_sweep.py``: the optimised packing. k vectors in R^d are drawn
  Gaussian, normalised, and a free (un-normalised) parameter is optimised by Adam on
  ``sum_{i != j} |cos_ij|^p`` (cosines of the normalised vectors); the reported ε* is the largest
  |cos_ij| of the final iterate. Settings: 5,000 steps, lr 0.005 (d <= 1024, else 0.0025) and
  p = min(floor(M / ln d), 20) with M = 40 when k <= 4000, 50 when d >= 3072, else 60
  (``loss_exponent``, ``packing_lr``).
- ``code/vector_packing/random_packing_sweep.py``: the random baseline. For T trials of k Gaussian vectors, the
  largest |cos_ij| of each trial; the reported ε*_random is the smallest of them over the trials.
- ``code/vector_packing_graphs.py``: the fitted forms (``jl_form`` ε = sqrt(C ln k / d); ``kd_form``
  ε = sqrt(C ln(k/d) / d), "the adjusted relationship with no extra parameter"; ``adjusted_form``
  ε = sqrt(C ln(k^a/d)^b / d^c), the fully parameterised one; both adjusted forms are 0 where k <= d and
  clip the log's argument at 1.00001) and the error metrics (``prediction_errors``: R², RMSE, max error,
  MAPE over non-zero targets, NRMSE as % of the target range).
- ``code/representational_capacity.py``: the released constants (``RELEASED``) and the capacity
  max_k(d, ε) = ceil((d exp((ε² d^c / C)^(1/b)))^(1/a)) (``capacity``).
- ``code/embd_orthogonality_analysis.py`` / ``repr_cap_table.py`` / ``functions/analysis.py``: ε of a model =
  μ + 2σ of the signed cosine similarities of all pairs of distinct (non-zero) embedding vectors; ε < 0.1
  gives a finite capacity, otherwise "indeterminate" (``embedding_epsilon``, ``EPS_CLASS_THRESHOLD``).

Convention here: a set of k vectors in R^d is a tensor of shape (..., k, d), one vector per row (the code
stores them as columns). Also ``welch_bound``: for k unit vectors in R^d, max |cos| >= sqrt((k-d)/(d(k-1)))
(Welch 1974), the floor every packing must respect.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = [
    "RELEASED",
    "EPS_CLASS_THRESHOLD",
    "cosine_matrix",
    "coherence",
    "welch_bound",
    "random_unit_vectors",
    "random_packing",
    "loss_exponent",
    "packing_lr",
    "packing_loss",
    "packing_loss_and_grad",
    "PackingResult",
    "Adam",
    "optimize_packing",
    "jl_form",
    "kd_form",
    "adjusted_form",
    "fit_scale",
    "fit_adjusted",
    "prediction_errors",
    "capacity",
    "jl_capacity",
    "cosine_stats",
    "embedding_epsilon",
    "sample_pair_cosines",
]

RELEASED = {"C": 0.45809143, "a": 1.0668005, "b": 1.44738666, "c": 0.97197234}
"""The fully parameterised form's constants released with the paper (``code/representational_capacity.py``)."""

EPS_CLASS_THRESHOLD = 0.1
"""ε >= 0.1: "poor orthogonality, capacity not estimable" (``embd_orthogonality_analysis.py``, ``repr_cap_table.py``)."""

_LOG_CLIP = 1.00001  # the code clips k/d (and k^a/d) from below before the log


# --------------------------------------------------------------------------------------------
# Coherence of a set of vectors
# --------------------------------------------------------------------------------------------


def _unit_rows(v: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(v, p=2, dim=-1)


def cosine_matrix(v: torch.Tensor) -> torch.Tensor:
    """Cosine similarities of the rows of ``v`` (shape (..., k, d)) -> (..., k, k)."""
    u = _unit_rows(torch.as_tensor(v))
    return u @ u.transpose(-1, -2)


def coherence(v: torch.Tensor) -> torch.Tensor:
    """max_{i != j} |cos(v_i, v_j)| for each set of rows in ``v`` (shape (..., k, d)) -> shape (...)."""
    c = cosine_matrix(v).abs()
    k = c.shape[-1]
    c = c - torch.eye(k, dtype=c.dtype, device=c.device) * c  # drop the diagonal (exactly 0 afterwards)
    return c.amax(dim=(-1, -2))


def welch_bound(k: int | np.ndarray, d: int | np.ndarray) -> np.ndarray | float:
    """Welch's lower bound on max |cos| of k unit vectors in R^d: sqrt((k - d) / (d (k - 1))), 0 when k <= d."""
    k = np.asarray(k, dtype=float)
    d = np.asarray(d, dtype=float)
    out = np.sqrt(np.clip(k - d, 0.0, None) / (d * np.maximum(k - 1.0, 1.0)))
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------------------------
# Random packing (the JL baseline)
# --------------------------------------------------------------------------------------------


def random_unit_vectors(
    shape: tuple[int, ...], generator: torch.Generator, dtype=torch.float32
) -> torch.Tensor:
    """Gaussian vectors normalised to unit length; ``shape = (..., k, d)``."""
    return _unit_rows(torch.randn(*shape, generator=generator, dtype=dtype))


def random_packing(k: int, d: int, trials: int, seed: int, chunk: int = 8, dtype=torch.float32) -> np.ndarray:
    """The coherence of ``trials`` independent sets of k random unit vectors in R^d (one value per trial).

    The paper's ε*_random(k, d) is the minimum of these (``random_packing_sweep.py``, T = 1000)."""
    if k < 2 or d < 1 or trials < 1:
        raise ValueError("random_packing: need k >= 2, d >= 1, trials >= 1")
    g = torch.Generator().manual_seed(int(seed))
    out = []
    with torch.no_grad():
        for start in range(0, trials, chunk):
            b = min(chunk, trials - start)
            out.append(coherence(random_unit_vectors((b, k, d), g, dtype)))
    return torch.cat(out).double().numpy()


# --------------------------------------------------------------------------------------------
# Optimised packing
# --------------------------------------------------------------------------------------------


def loss_exponent(k: int, d: int) -> int:
    """The code's loss exponent p = min(floor(M / ln d), 20): M = 40 if k <= 4000, 50 if d >= 3072, else 60.

    (The notes' "ln k" is a misreading: the code takes the log of ``embd.size(0)``, which is d.)"""
    if d < 2:
        raise ValueError("loss_exponent: d must be >= 2")
    m = 40 if k <= 4000 else (50 if d >= 3072 else 60)
    return int(min(int(m / math.log(d)), 20))


def packing_lr(k: int, d: int) -> float:
    """The code's Adam learning rate: 0.005 when d <= 1024, else 0.0025."""
    return 0.005 if d <= 1024 else 0.0025


def packing_loss(x: torch.Tensor, p: int) -> torch.Tensor:
    """sum over ordered pairs i != j of |cos(x_i, x_j)|^p, summed over any leading batch dims (autograd-able)."""
    c = cosine_matrix(x)
    k = c.shape[-1]
    off = c * (1 - torch.eye(k, dtype=c.dtype, device=c.device))
    return (off.abs() ** p).sum()


def packing_loss_and_grad(x: torch.Tensor, p: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``packing_loss`` and its gradient w.r.t. ``x`` in closed form (about twice as fast as autograd).

    With u_i = x_i / |x_i| and c_ij = u_i . u_j, L = sum_{i != j} |c_ij|^p gives
    dL/du_i = 2p sum_{j != i} sign(c_ij) |c_ij|^(p-1) u_j and dL/dx_i = (I - u_i u_i^T) dL/du_i / |x_i|.
    Returns (loss, grad, coherence) with coherence = max |c_ij| per set (before the step)."""
    if p < 2:
        raise ValueError("packing_loss_and_grad: p must be >= 2")
    norm = x.norm(dim=-1, keepdim=True)
    u = x / norm
    c = u @ u.transpose(-1, -2)
    c.diagonal(dim1=-2, dim2=-1).zero_()
    a = c.abs()
    coh = a.amax(dim=(-1, -2))
    w = c * a.pow(p - 2)  # sign(c) |c|^(p-1)
    loss = (w * c).sum()
    gu = (2.0 * p) * (w @ u)
    gx = (gu - (gu * u).sum(dim=-1, keepdim=True) * u) / norm
    return loss, gx, coh


@dataclass
class PackingResult:
    """Outcome of ``optimize_packing`` for a batch of sets (leading dims of the init)."""

    final: np.ndarray  # coherence of the final iterate: the paper's ε*
    init: np.ndarray  # coherence of the initial vectors
    best: np.ndarray  # smallest coherence seen along the run (checked every step)
    p: int
    lr: float
    steps: int
    history: list[float] = field(default_factory=list)  # mean coherence every ``record_every`` steps
    vectors: torch.Tensor | None = None  # final unit vectors (when asked for)


class Adam:
    """Adam (Kingma & Ba 2015) on one tensor, the update ``torch.optim.Adam`` makes with its defaults
    (betas 0.9/0.999, eps 1e-8 added to the bias-corrected sqrt of the second moment, no weight decay).

    Written out because ``torch.optim`` imports ``torch._dynamo`` on its first step (~4.5 s per process);
    tested equal to ``torch.optim.Adam``."""

    def __init__(
        self, x: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ):
        self.x, self.lr, self.b1, self.b2, self.eps = (
            x,
            float(lr),
            float(betas[0]),
            float(betas[1]),
            float(eps),
        )
        self.m = torch.zeros_like(x)
        self.v = torch.zeros_like(x)
        self.t = 0

    def step(self, grad: torch.Tensor) -> None:
        self.t += 1
        self.m.lerp_(grad, 1 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
        bc1 = 1 - self.b1**self.t
        bc2 = 1 - self.b2**self.t
        denom = (self.v.sqrt() / math.sqrt(bc2)).add_(self.eps)
        self.x.addcdiv_(self.m, denom, value=-self.lr / bc1)


def optimize_packing(
    init: torch.Tensor, steps: int, p: int, lr: float, record_every: int = 0, keep_vectors: bool = False
) -> PackingResult:
    """Adam on ``packing_loss`` from ``init`` (shape (..., k, d), rows need not be unit), as the code does.

    The sets in a batch are independent (the loss is a sum over them, so Adam's per-coordinate steps are
    the same as optimising each alone). The returned ``final`` is the coherence of the iterate after
    ``steps`` updates [the code reports the iterate after steps-1 updates: same within one step]."""
    if steps < 0:
        raise ValueError("optimize_packing: steps must be >= 0")
    x = init.detach().clone()
    opt = Adam(x, lr)
    init_coh = coherence(x).double().numpy()
    best = init_coh.copy()
    hist: list[float] = []
    for step in range(steps):
        _, grad, coh = packing_loss_and_grad(x, p)
        best = np.minimum(best, coh.double().numpy())
        if record_every and step % record_every == 0:
            hist.append(float(coh.double().mean()))
        opt.step(grad)
    final = coherence(x).double().numpy()
    best = np.minimum(best, final)
    if record_every:
        hist.append(float(final.mean()))
    return PackingResult(
        final=final,
        init=init_coh,
        best=best,
        p=int(p),
        lr=float(lr),
        steps=int(steps),
        history=hist,
        vectors=_unit_rows(x).detach() if keep_vectors else None,
    )


# --------------------------------------------------------------------------------------------
# Fitted forms
# --------------------------------------------------------------------------------------------


def _kd(k, d):
    return np.asarray(k, dtype=float), np.asarray(d, dtype=float)


def jl_form(k, d, C: float) -> np.ndarray:
    """Standard JL: ε = sqrt(C ln k / d)."""
    k, d = _kd(k, d)
    return np.sqrt(C * np.log(k) / d)


def kd_form(k, d, C: float) -> np.ndarray:
    """The paper's adjusted relationship with one constant: ε = sqrt(C ln(k/d) / d) for k > d, else 0."""
    k, d = _kd(k, d)
    out = np.zeros(np.broadcast(k, d).shape)
    kk, dd = np.broadcast_arrays(k, d)
    m = kk > dd
    out[m] = np.sqrt(C * np.log(np.clip(kk[m] / dd[m], _LOG_CLIP, None)) / dd[m])
    return out


def adjusted_form(k, d, C: float, a: float, b: float, c: float) -> np.ndarray:
    """The fully parameterised relationship: ε = sqrt(C ln(k^a/d)^b / d^c) for k > d, else 0."""
    k, d = _kd(k, d)
    out = np.zeros(np.broadcast(k, d).shape)
    kk, dd = np.broadcast_arrays(k, d)
    m = kk > dd
    ratio = np.clip(kk[m] ** a / dd[m], _LOG_CLIP, None)
    out[m] = np.sqrt(C * np.log(ratio) ** b / dd[m] ** c)
    return out


def fit_scale(form, k, d, eps) -> float:
    """Least-squares C for a one-constant form ε = sqrt(C) g(k, d) (``jl_form``, ``kd_form``).

    The residual sum sum (ε_i - sqrt(C) g_i)^2 is quadratic in s = sqrt(C): s = sum ε g / sum g², C = s²
    (the code reaches the same minimiser with scipy's ``curve_fit``)."""
    eps = np.asarray(eps, dtype=float)
    g = form(k, d, 1.0)
    den = float(np.sum(g * g))
    if den <= 0:
        raise ValueError("fit_scale: the form is 0 at every point")
    s = max(float(np.sum(eps * g)) / den, 0.0)
    return s * s


def fit_adjusted(k, d, eps, p0=(0.5, 1.0, 1.4, 1.0), bounds=((0, 0.1, 0.1, 0.1), (10, 10, 10, 10))) -> dict:
    """Nonlinear least squares of ``adjusted_form`` (scipy ``curve_fit``, the code's start point and bounds)."""
    from scipy.optimize import curve_fit

    k, d = _kd(k, d)
    with warnings.catch_warnings():  # "covariance could not be estimated" is about error bars we do not use
        warnings.simplefilter("ignore")
        popt, _ = curve_fit(
            lambda x, C, a, b, c: adjusted_form(x[0], x[1], C, a, b, c),
            np.stack([k, d]),
            np.asarray(eps, dtype=float),
            p0=list(p0),
            bounds=bounds,
            maxfev=50000,
        )
    return dict(zip(("C", "a", "b", "c"), (float(v) for v in popt), strict=True))


def prediction_errors(y, yhat) -> dict:
    """The code's metrics: R², RMSE, max |error|, MAPE (%, over y != 0) and NRMSE (% of the range of y)."""
    y = np.asarray(y, dtype=float)
    yhat = np.asarray(yhat, dtype=float)
    r = y - yhat
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    rmse = float(np.sqrt(np.mean(r**2)))
    nz = y != 0
    span = float(y.max() - y.min())
    return {
        "r2": 1.0 - float(np.sum(r**2)) / ss_tot if ss_tot > 0 else float("nan"),
        "rmse": rmse,
        "max_err": float(np.max(np.abs(r))),
        "mape": float(np.mean(np.abs(r[nz] / y[nz])) * 100) if nz.any() else float("nan"),
        "nrmse": rmse / span * 100 if span > 0 else float("nan"),
    }


# --------------------------------------------------------------------------------------------
# Capacity
# --------------------------------------------------------------------------------------------


def capacity(
    d,
    eps,
    C: float = RELEASED["C"],
    a: float = RELEASED["a"],
    b: float = RELEASED["b"],
    c: float = RELEASED["c"],
) -> np.ndarray | float:
    """Representational capacity max_k(d, ε) = ceil((d exp((ε² d^c / C)^(1/b)))^(1/a)), the inverse of
    ``adjusted_form`` in k (``representational_capacity.py``). Returned as float (it overflows int64 early)."""
    d = np.asarray(d, dtype=float)
    eps = np.asarray(eps, dtype=float)
    with np.errstate(over="ignore"):
        out = np.ceil((d * np.exp((eps**2 * d**c / C) ** (1.0 / b))) ** (1.0 / a))
    return float(out) if out.ndim == 0 else out


def jl_capacity(d, eps, C: float) -> np.ndarray | float:
    """The JL form's inverse in k: k = exp(ε² d / C)."""
    d = np.asarray(d, dtype=float)
    eps = np.asarray(eps, dtype=float)
    with np.errstate(over="ignore"):
        out = np.exp(eps**2 * d / C)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------------------------
# ε of an embedding matrix
# --------------------------------------------------------------------------------------------


def _unit_nonzero_rows(e) -> np.ndarray:
    e = np.asarray(e.detach().cpu().numpy() if isinstance(e, torch.Tensor) else e, dtype=np.float64)
    n = np.linalg.norm(e, axis=1)
    keep = n > 0  # the code drops zero-magnitude vectors
    return e[keep] / n[keep, None]


def cosine_stats(e, chunk: int = 4096) -> dict:
    """Mean and standard deviation of cos(e_i, e_j) over all pairs i != j of the non-zero rows of ``e`` (n, d).

    Exact and O(n d²): with unit rows u_i, sum_{i != j} c_ij = |sum_i u_i|² - n and
    sum_{i != j} c_ij² = ||U^T U||_F² - n. σ is the population s.d. over the n(n-1) ordered pairs (each
    unordered pair twice; the code's ``torch.std_mean`` over unordered pairs differs by a factor
    sqrt(N/(N-1)), N = n(n-1)/2, negligible)."""
    u = _unit_nonzero_rows(e)
    n, d = u.shape
    if n < 2:
        raise ValueError("cosine_stats: need at least two non-zero vectors")
    s = np.zeros(d)
    g = np.zeros((d, d))
    for start in range(0, n, chunk):
        blk = u[start : start + chunk]
        s += blk.sum(axis=0)
        g += blk.T @ blk
    pairs = n * (n - 1)
    mean = (float(s @ s) - n) / pairs
    second = (float(np.sum(g * g)) - n) / pairs
    return {
        "mean": mean,
        "std": math.sqrt(max(second - mean * mean, 0.0)),
        "n": int(n),
        "d": int(d),
        "dropped": int(np.asarray(e).shape[0] - n),
    }


def embedding_epsilon(e, n_sigma: float = 2.0) -> dict:
    """The paper's ε of an embedding matrix: μ + n_sigma σ of its pairwise cosines (n_sigma = 2; 3 is the
    code's "exaggerated" variant), with the capacity class (finite when ε < 0.1) and max_k(d, ε)."""
    st = cosine_stats(e)
    eps = st["mean"] + n_sigma * st["std"]
    finite = eps < EPS_CLASS_THRESHOLD
    return {
        **st,
        "eps": eps,
        "finite_capacity": bool(finite),
        "capacity": capacity(st["d"], eps) if finite else float("nan"),
    }


def sample_pair_cosines(e, n_rows: int, seed: int) -> np.ndarray:
    """Cosines of all pairs among ``n_rows`` rows drawn without replacement (for histograms)."""
    u = _unit_nonzero_rows(e)
    rng = np.random.default_rng(seed)
    idx = rng.choice(u.shape[0], size=min(n_rows, u.shape[0]), replace=False)
    sub = u[idx]
    c = sub @ sub.T
    return c[np.triu_indices(len(idx), k=1)]
