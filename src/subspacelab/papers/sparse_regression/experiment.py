"""What one run of sparse_regression computes ("Sparse Linear Regression is Easy on Random Supports",
Chandrasekaran, Meka, Stavropoulos; arXiv 2511.06211): one run = one (design, support model, coefficient
model); inside it, a sweep over the number of samples N x trials, every baseline fitted on the same data.

The paper's own two-phase algorithm (§4 preconditioner, §5 solver) is NOT run: its construction could
not be read (see NOTES.md), and no method runs under its name. The baselines measure what Lasso/OMP/least
squares need on easy vs ill-conditioned designs, random vs adversarial supports. Maths:
``subspacelab.numerics.sparse_regression``.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from subspacelab.experiments import map_trials, trial_seed, wilson_interval, write_trials
from subspacelab.numerics import sparse_regression as sr

METHODS = ("lasso", "lasso_cv", "lasso_best", "omp", "least_squares", "oracle")
SUPPORTS = ("random", "adversarial")
VALUES = ("gaussian", "worst")
PAPER_METHOD_NAMES = ("paper", "two_phase", "preconditioned_lasso", "cms")


@dataclass
class Experiment:
    """

    One run: a design and a support/coefficient model; N swept inside, ``trials`` draws per N.

    Every trial draws one design matrix with max(n_grid) rows, one support and one w*, one noise
    vector; the problem at sample size N uses their first N rows (common random numbers across N)."""

    TAG: ClassVar[str] = "${.design}-kap${.kappa}-${.support}-${.values}"

    design: str = "gaussian"  # gaussian | near_dependent | random_walk | block
    kappa: float = 1.0  # population condition number (near_dependent and block only; 1.0 otherwise)
    n_blocks: int = 4  # block design: number of equicorrelated column blocks
    d: int = 200
    k: int = 4
    n_grid: list[int] = field(default_factory=lambda: [20, 30, 50, 75, 100, 150, 200, 300, 400])
    trials: int = 16
    support: str = "random"  # random (the paper's model) | adversarial (near-dependent columns)
    values: str = "gaussian"  # gaussian | worst (least eigenvector of Sigma_SS on the support)
    sigma: float = 0.5  # noise sd; the signal has w*' Sigma w* = 1
    eps: float = 0.125  # target prediction error = sigma^2 / 2
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    lasso_c: float = 1.0  # universal alpha = lasso_c * sigma * sqrt(2 log d / N)
    cv: bool = True  # False drops lasso_cv (the costliest baseline: cv_folds + 1 Lasso paths)
    cv_folds: int = 3

    def __post_init__(self):
        self.n_grid = [int(n) for n in self.n_grid]
        self.methods = [str(m) for m in self.methods]
        self.kappa = float(self.kappa)
        if not self.cv:
            self.methods = [m for m in self.methods if m != "lasso_cv"]
        if self.design not in sr.DESIGNS:
            raise ValueError(f"design: must be one of {sr.DESIGNS}, got {self.design!r}")
        if self.kappa < 1.0:
            raise ValueError(f"kappa: must be >= 1, got {self.kappa}")
        if self.design not in sr.KAPPA_DESIGNS and self.kappa != 1.0:
            raise ValueError(
                f"kappa: only the {sr.KAPPA_DESIGNS} designs take kappa (got {self.kappa} with {self.design!r})"
            )
        if not 1 <= self.n_blocks <= self.d:
            raise ValueError(f"n_blocks: must be in [1, d], got {self.n_blocks}")
        if self.d < 3:
            raise ValueError(f"d: must be >= 3, got {self.d}")
        if not 1 <= self.k <= self.d:
            raise ValueError(f"k: must be in [1, d], got {self.k}")
        if not self.n_grid or min(self.n_grid) < 2 or len(set(self.n_grid)) != len(self.n_grid):
            raise ValueError(f"n_grid: needs distinct sample sizes >= 2, got {self.n_grid}")
        if self.trials < 1:
            raise ValueError(f"trials: must be >= 1, got {self.trials}")
        if self.support not in SUPPORTS:
            raise ValueError(f"support: must be one of {SUPPORTS}, got {self.support!r}")
        if self.support == "adversarial" and not sr.near_dependent_candidates(
            self.design, self.d, self.k, self.n_blocks
        ):
            raise ValueError(
                f"support: 'adversarial' needs near-dependent columns; design {self.design!r} has none"
            )
        if (
            self.support == "adversarial"
            and self.design == "near_dependent"
            and math.ceil(self.k / 3) > self.d // 3
        ):
            raise ValueError(f"k: {self.k} needs more triples than d={self.d} has")
        if self.support == "adversarial" and self.design == "random_walk" and self.k > self.d - self.d // 2:
            raise ValueError(f"k: {self.k} is larger than the second half of the random walk (d={self.d})")
        if self.values not in VALUES:
            raise ValueError(f"values: must be one of {VALUES}, got {self.values!r}")
        if not self.sigma > 0:
            raise ValueError(f"sigma: must be > 0, got {self.sigma}")
        if not self.eps > 0:
            raise ValueError(f"eps: must be > 0, got {self.eps}")
        bad = [m for m in self.methods if m not in METHODS]
        if any(m in PAPER_METHOD_NAMES for m in bad):
            raise ValueError(
                "methods: the paper's two-phase algorithm (§4-§5) is not implemented: its "
                "construction could not be read; only the baselines " + ", ".join(METHODS) + " exist"
            )
        if bad or not self.methods:
            raise ValueError(f"methods: must be a non-empty subset of {METHODS}, got {self.methods}")
        if self.lasso_c <= 0:
            raise ValueError(f"lasso_c: must be > 0, got {self.lasso_c}")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds: must be >= 2, got {self.cv_folds}")

    # ------------------------------------------------------------------------------------------
    def config(self) -> dict:
        return asdict(self)

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        t0 = time.perf_counter()
        cfg = self.config()
        tasks = [(cfg, int(seed), t) for t in range(self.trials)]
        per_trial = map_trials(_one_trial, tasks, n_jobs)
        records = [r for trial in per_trial for r in trial]
        if out_dir is not None:
            write_trials(Path(out_dir) / "trials.csv", records)
        points = _aggregate(records, self)
        n_eps = {}
        for m in self.methods:
            pts = [p for p in points if p["method"] == m]
            n_eps[m] = sr.n_to_reach([p["n"] for p in pts], [p["success_rate"] for p in pts])
        cov = sr.population_covariance(self.design, self.d, self.kappa, self.n_blocks)
        ls_theory = _ls_theory_n_eps(self.d, self.sigma, self.eps)
        return {
            "design": self.design,
            "support": self.support,
            "signal_values": self.values,  # not "values": DVC's metrics table would read it as its own attribute
            "d": self.d,
            "k": self.k,
            "eps": self.eps,
            "sigma": self.sigma,
            "kappa_population": sr.condition_number(cov),
            "n_eps": n_eps,
            "n_eps_over_d": {m: (v / self.d if v is not None else None) for m, v in n_eps.items()},
            "n_max": max(self.n_grid),
            "theory_least_squares_n_eps": ls_theory,
            "median_support_lambda_min": float(statistics.median(r["lambda_min_ss"] for r in records)),
            "median_w_l1": float(statistics.median(r["w_l1"] for r in records)),
            "points": points,
            "seconds": time.perf_counter() - t0,
        }


def _ls_theory_n_eps(d: int, sigma: float, eps: float) -> float | None:
    """Smallest N with sigma^2 min(N, d)/N <= eps: sigma^2 d / eps when that exceeds d (else any N works
    only if sigma^2 <= eps, i.e. the target is trivial)."""
    if sigma**2 <= eps:
        return 1.0
    return sigma**2 * d / eps


def _one_trial(task) -> list[dict]:
    cfg, seed, t = task
    rng = np.random.default_rng(trial_seed(seed, "sparse_regression", t))
    d, k = cfg["d"], cfg["k"]
    n_max = max(cfg["n_grid"])
    x_full = sr.sample_design(rng, cfg["design"], n_max, d, cfg["kappa"], cfg["n_blocks"])
    noise_full = rng.standard_normal(n_max)
    if cfg["support"] == "random":
        supp = sr.random_support(rng, d, k)
    else:
        supp = sr.adversarial_support(rng, cfg["design"], d, k, cfg["n_blocks"])
    cov = sr.population_covariance(cfg["design"], d, cfg["kappa"], cfg["n_blocks"])
    cov_ss = cov[np.ix_(supp, supp)]
    vals = sr.signal_values(rng, cov_ss, cfg["values"])
    w = sr.sparse_signal(d, supp, vals)
    lam_min = float(np.linalg.eigvalsh(cov_ss)[0])
    out = []
    for n in sorted(cfg["n_grid"]):
        x = x_full[:n]
        y = x @ w + cfg["sigma"] * noise_full[:n]
        for m in cfg["methods"]:
            t1 = time.perf_counter()
            extra = {}
            if m == "lasso":
                w_hat = sr.fit_lasso(x, y, sr.universal_lasso_alpha(n, d, cfg["sigma"], cfg["lasso_c"]))
            elif m == "lasso_cv":
                w_hat, alpha = sr.fit_lasso_cv(x, y, cfg["cv_folds"])
                extra["alpha"] = alpha
            elif m == "lasso_best":
                alphas, coefs = sr.lasso_path(x, y)
                w_hat, alpha, _ = sr.best_on_path(x, w, alphas, coefs)
                extra["alpha"] = alpha
            elif m == "omp":
                w_hat = sr.fit_omp(x, y, k)
            elif m == "least_squares":
                w_hat = sr.fit_least_squares(x, y)
            elif m == "oracle":
                w_hat = sr.fit_oracle(x, y, supp)
            else:  # pragma: no cover - validated in __post_init__
                raise ValueError(m)
            err = sr.prediction_error(x, w, w_hat)
            out.append(
                {
                    "trial": t,
                    "n": n,
                    "method": m,
                    "error": err,
                    "success": int(err <= cfg["eps"]),
                    "nnz": int(np.count_nonzero(w_hat)),
                    "seconds": time.perf_counter() - t1,
                    "lambda_min_ss": lam_min,
                    "w_l1": float(np.abs(w).sum()),
                    "support": " ".join(map(str, supp)),
                    **extra,
                }
            )
    return out


def _aggregate(records: list[dict], exp: Experiment) -> list[dict]:
    points = []
    for n in sorted(exp.n_grid):
        for m in exp.methods:
            errs = np.array([r["error"] for r in records if r["n"] == n and r["method"] == m])
            succ = int(np.sum(errs <= exp.eps))
            lo, hi = wilson_interval(succ, len(errs))
            points.append(
                {
                    "n": n,
                    "method": m,
                    "successes": succ,
                    "trials": len(errs),
                    "success_rate": succ / len(errs),
                    "ci_low": lo,
                    "ci_high": hi,
                    "median_err": float(np.median(errs)),
                    "q25_err": float(np.quantile(errs, 0.25)),
                    "q75_err": float(np.quantile(errs, 0.75)),
                    "mean_err": float(np.mean(errs)),
                    "theory_least_squares": float(sr.least_squares_expected_error(n, exp.d, exp.sigma)),
                    "theory_oracle": float(sr.oracle_expected_error(n, exp.k, exp.sigma)),
                }
            )
    return points
