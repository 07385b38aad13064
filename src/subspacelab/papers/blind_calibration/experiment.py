"""What a blind-calibration run executes (Cambareri & Jacques, arXiv 1610.09028).

One run = one (variant, sizes) configuration; the sweep over the number of snapshots p (or over the
noise level) and the Monte-Carlo trials run inside, vectorised over trials. Variants:

- ``plain``: no priors; p from ratio_min to ratio_max in mp/(n+m) units; success = exact recovery.
- ``priors``: x = Z z (dim h), d = 1 + B b (dim k); p in mp/(h+k) units.
- ``noise``: fixed p; additive Gaussian noise at several levels; relative error vs level.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from subspacelab.experiments.harness import (
    map_trials,
    transition_point,
    trial_seed,
    wilson_interval,
    write_trials,
)
from subspacelab.numerics import blind_calibration as bc

VARIANTS = ("plain", "priors", "noise")
METHODS = ("pgd", "als", "linear_ls")
_VARIANT_KEY = {v: i for i, v in enumerate(VARIANTS)}


@dataclass
class Experiment:
    """Blind gain calibration by projected gradient descent (Cambareri & Jacques, arXiv 1610.09028).
    One run = one (variant, sizes) point; the sweep over snapshots p (or noise levels) and the trials
    run inside Experiment.run, vectorised over trials. Field meanings: subspacelab.papers.blind_calibration.experiment.

    One run of the blind-calibration experiment (schema of conf/experiment/blind_calibration.yaml)."""

    TAG: ClassVar[str] = "${.variant}-n${.n}-m${.m}-h${.h}-k${.k}-rho${.rho}-pn${.p_noise}"

    variant: str = "plain"  # plain | priors | noise
    n: int = 64  # signal dimension
    m: int = 64  # number of sensors (gains)
    h: int = 0  # signal subspace dimension (priors only)
    k: int = 0  # gain subspace dimension inside 1^perp (priors only)
    rho: float = 0.5  # gains in [1 - rho, 1 + rho] with 1^T d = m
    ensemble: str = "gaussian"  # gaussian | rademacher sensing entries
    ratio_min: float = 0.5  # sweep p from max(1, floor(ratio_min * unknowns / m))
    ratio_max: float = 3.0  # ... to the first p with mp/unknowns >= ratio_max
    p_values: list[int] | None = None  # explicit p sweep (overrides ratio_min / ratio_max)
    p_noise: int = 8  # snapshots in the noise variant
    noise_levels: list[float] = field(
        default_factory=lambda: [1e-4, 1e-3, 1e-2, 1e-1]
    )  # noise RMS / measurement RMS
    trials: int = 20
    baselines: bool = False  # also ALS and (without priors) Ling-Strohmer linear least squares
    mu: float = 0.3  # PGD step: mu_xi = mu, mu_gamma = mu m / ||xi_0||^2
    max_iters: int = 10000
    tol: float = 1e-12  # stop when the relative move of the iterate is below tol
    als_max_iters: int = 500
    project_box: bool = True  # PGD projects the gains onto G_rho (False: on 1^T gamma = m only)
    success_tol: float = 1e-6  # exact recovery: max relative error (signal, gains) < success_tol

    def __post_init__(self):
        self.noise_levels = [float(x) for x in self.noise_levels]
        if self.p_values is not None:
            self.p_values = [int(x) for x in self.p_values]
        if self.variant not in VARIANTS:
            raise ValueError(f"variant: unknown {self.variant!r}; valid: {', '.join(VARIANTS)}")
        if self.n < 1 or self.m < 2:
            raise ValueError(f"n, m: need n >= 1 and m >= 2, got n={self.n}, m={self.m}")
        if not 0 < self.rho < 1:
            raise ValueError(f"rho: must lie in (0, 1), got {self.rho}")
        if self.ensemble not in ("gaussian", "rademacher"):
            raise ValueError(f"ensemble: unknown {self.ensemble!r}; valid: gaussian, rademacher")
        if self.trials < 1:
            raise ValueError(f"trials: must be >= 1, got {self.trials}")
        if self.variant == "priors":
            if not 1 <= self.h <= self.n:
                raise ValueError(f"h: need 1 <= h <= n with priors, got h={self.h}, n={self.n}")
            if not 1 <= self.k <= self.m - 1:
                raise ValueError(f"k: need 1 <= k <= m - 1 with priors, got k={self.k}, m={self.m}")
        if not 0 <= self.ratio_min < self.ratio_max:
            raise ValueError(
                f"ratio_min, ratio_max: need 0 <= ratio_min < ratio_max, got {self.ratio_min}, {self.ratio_max}"
            )
        if self.p_values is not None and (not self.p_values or min(self.p_values) < 1):
            raise ValueError(f"p_values: need positive integers, got {self.p_values}")
        if self.p_noise < 1:
            raise ValueError(f"p_noise: must be >= 1, got {self.p_noise}")
        if self.variant == "noise" and (not self.noise_levels or min(self.noise_levels) <= 0):
            raise ValueError(f"noise_levels: need positive levels, got {self.noise_levels}")
        if (
            self.mu <= 0
            or self.max_iters < 1
            or self.als_max_iters < 1
            or self.tol <= 0
            or self.success_tol <= 0
        ):
            raise ValueError("mu, max_iters, als_max_iters, tol, success_tol: must be positive")

    # -- sweep ------------------------------------------------------------------------------

    @property
    def methods(self) -> list[str]:
        """PGD always; with baselines ALS, and linear LS where it exists (no subspace-prior form: 1/d is
        not in a subspace)."""
        if not self.baselines:
            return ["pgd"]
        return ["pgd", "als"] if self.variant == "priors" else list(METHODS)

    @property
    def unknowns(self) -> int:
        """n + m without priors (the paper's count), h + k with priors."""
        return self.h + self.k if self.variant == "priors" else self.n + self.m

    def p_sweep(self) -> list[int]:
        if self.variant == "noise":
            return [self.p_noise]
        if self.p_values is not None:
            return sorted(set(self.p_values))
        first = max(1, math.floor(self.ratio_min * self.unknowns / self.m))
        return list(range(first, math.ceil(self.ratio_max * self.unknowns / self.m) + 1))

    # -- one task: every method on the same batch of problems -----------------------------

    def _task(self, task: tuple[int, int]) -> list[dict]:
        seed, p = task
        rng = np.random.default_rng(
            trial_seed(seed, _VARIANT_KEY[self.variant], self.n, self.m, self.h, self.k, p)
        )
        T, n, m = self.trials, self.n, self.m
        A = bc.sensing_matrices(rng, T, p, m, n, self.ensemble)
        Z = B = None
        if self.variant == "priors":
            Z = bc.orthonormal_basis(rng, T, n, self.h)
            B = bc.gain_basis(rng, T, m, self.k)
            z = rng.standard_normal((T, self.h))
            x = np.matmul(Z, z[..., None])[..., 0]
            bb = np.matmul(B, rng.standard_normal((T, self.k, 1)))[..., 0]
            d = 1.0 + bb * (self.rho * rng.uniform(0.5, 1.0, (T, 1)) / np.abs(bb).max(axis=1, keepdims=True))
        else:
            x = rng.standard_normal((T, n))
            d = bc.random_gains(rng, T, m, self.rho)
        y0 = bc.measure(A, x, d)
        A_eff = np.matmul(A, Z[:, None]) if Z is not None else A  # (T, p, m, h) with a signal prior
        levels = self.noise_levels if self.variant == "noise" else [0.0]
        noise = rng.standard_normal(y0.shape)
        rms = np.sqrt(np.mean(y0**2, axis=(1, 2), keepdims=True))
        rows = []
        for level in levels:
            y = y0 + level * rms * noise  # same noise draw at every level (common random numbers)
            for method in self.methods:
                sol = self._solve(method, A_eff, y, B)
                xi = np.matmul(Z, sol.xi[..., None])[..., 0] if Z is not None else sol.xi
                with np.errstate(all="ignore"):  # diverged iterates give inf errors, counted as failures
                    ex, eg = bc.relative_errors(xi, sol.gamma, x, d)
                    err = bc.joint_error(xi, sol.gamma, x, d)
                for t in range(T):
                    rows.append(
                        {
                            "method": method,
                            "p": p,
                            "noise": level,
                            "trial": t,
                            "err_x": _inf(float(ex[t])),
                            "err_gain": _inf(float(eg[t])),
                            "err": float(err[t]),
                            "success": bool(err[t] < self.success_tol),
                            "iters": int(sol.iters[t]),
                            "converged": bool(sol.converged[t]),
                            "diverged": bool(sol.diverged[t]),
                        }
                    )
        return rows

    def _solve(self, method: str, A: np.ndarray, y: np.ndarray, B: np.ndarray | None) -> bc.Solution:
        with np.errstate(all="ignore"):
            if method == "pgd":
                rho = self.rho if (self.project_box and B is None) else None
                return bc.pgd(A, y, mu=self.mu, max_iters=self.max_iters, tol=self.tol, rho=rho, B=B)
            if method == "als":
                return bc.als(A, y, max_iters=self.als_max_iters, tol=self.tol, B=B)
            return bc.linear_ls(A, y)

    # -- run ----------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        ps = self.p_sweep()
        trials = [r for rows in map_trials(self._task, [(seed, p) for p in ps], n_jobs) for r in rows]
        write_trials(out_dir / "trials.csv", trials)
        points = aggregate(trials, self)
        summary = {
            "variant": self.variant,
            "n": self.n,
            "m": self.m,
            "h": self.h,
            "k": self.k,
            "rho": self.rho,
            "unknowns": self.unknowns,
            "p_values": ps,
            "points": points,
        }
        if self.variant == "noise":
            for method in self.methods:
                pts = [q for q in points if q["method"] == method]
                summary[f"{method}_noise_slope"] = summary_slope(
                    [q["noise"] for q in pts], [q["median_err"] for q in pts]
                )
        else:
            for method in self.methods:
                pts = [q for q in points if q["method"] == method]
                p50 = crossing([q["p"] for q in pts], [q["success_rate"] for q in pts])
                summary[f"{method}_p50"] = p50
                summary[f"{method}_ratio50"] = None if p50 is None else p50 * self.m / self.unknowns
        return summary


# ---------------------------------------------------------------------------------------------
# Aggregation helpers (pure functions, also used by the rules)
# ---------------------------------------------------------------------------------------------


def aggregate(trials: list[dict], exp: Experiment) -> list[dict]:
    """Per (method, p, noise) aggregates: success rate with a Wilson 95% interval, error quantiles."""
    groups: dict[tuple, list[dict]] = {}
    for r in trials:
        groups.setdefault((r["method"], r["p"], r["noise"]), []).append(r)
    points = []
    for (method, p, noise), rs in sorted(
        groups.items(), key=lambda kv: (METHODS.index(kv[0][0]), kv[0][1], kv[0][2])
    ):
        s = sum(r["success"] for r in rs)
        lo, hi = wilson_interval(s, len(rs))
        errs = sorted(r["err"] for r in rs)
        points.append(
            {
                "method": method,
                "n": exp.n,
                "m": exp.m,
                "h": exp.h,
                "k": exp.k,
                "p": p,
                "noise": noise,
                "ratio": exp.m * p / exp.unknowns,
                "trials": len(rs),
                "successes": s,
                "success_rate": s / len(rs),
                "ci_low": lo,
                "ci_high": hi,
                "median_err": _json_float(statistics.median(errs)),
                "median_err_x": _json_float(statistics.median(_inf(r["err_x"]) for r in rs)),
                "q90_err": _json_float(errs[min(len(errs) - 1, int(0.9 * len(errs)))]),
                "median_iters": statistics.median(r["iters"] for r in rs),
                "diverged": sum(r["diverged"] for r in rs),
            }
        )
    return points


def _inf(v: float) -> float:
    return v if math.isfinite(v) else float("inf")


def _json_float(v: float) -> float | None:
    """Finite floats as they are; inf / NaN (a failed or diverged solve) as None (strict JSON)."""
    return float(v) if math.isfinite(v) else None


def crossing(xs: list[float], rates: list[float], level: float = 0.5) -> float | None:
    """First p where the success rate reaches ``level``, linearly interpolated in p (not log p)
    between the grid point before it and the first point at or above it. None if never reached."""
    return transition_point(xs, rates, level, log_x=False)


def summary_slope(xs: list[float], ys: list[float]) -> float | None:
    """The run summary's ``<method>_noise_slope``: least-squares slope of log10(y) against log10(x) over the
    finite positive pairs (no interval; the derive rule refits with ``reporting.stats.loglog_slope``)."""
    pts = [
        (math.log10(a), math.log10(b))
        for a, b in zip(xs, ys, strict=True)
        if a is not None and b is not None and a > 0 and 0 < b < float("inf")
    ]
    if len(pts) < 2:
        return None
    lx, ly = np.array(pts).T
    return float(np.polyfit(lx, ly, 1)[0])
