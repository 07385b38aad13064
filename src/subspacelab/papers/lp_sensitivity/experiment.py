"""What one run of lp_sensitivity computes (Woodruff & Yasuda, "Sharper Bounds for ℓp Sensitivity Sampling").

One run = one p and one seed. Inside it, a family of n x d matrices (``mixture_matrix``: d blocks of
coordinate rows mixed with a Gaussian matrix, weight t) is swept over ``dims`` x ``mix``; for each
matrix the exact ℓp sensitivities (and leverage scores, Lewis weights) are computed, then for every
sampling scheme and every expected sample size m on a log grid, ``reps`` independent samples are
drawn and their distortion ε̂ = max_x |‖SAx‖_p^p/‖Ax‖_p^p − 1| is estimated (random directions, the
rows' sensitivity-maximising directions, coordinate axes, then local ascent from the worst starts).
m*(ε) is where the median ε̂ over the reps crosses ``eps_target``. The claims fit log m* against
log 𝔖 across the family (pooled over seeds) and compare the slope with the paper's exponent
(``claims.py``); the maths is :mod:`subspacelab.numerics.lp_sensitivity`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from subspacelab.experiments.harness import map_trials, trial_seed, write_trials
from subspacelab.numerics import lp_sensitivity as lps

STATS = ("median", "mean", "q90")


@dataclass
class Experiment:
    """ℓp sensitivity sampling (Woodruff & Yasuda 2023): one p, one seed, a family of matrices swept inside.

    One run: one p, a family of matrices, every scheme, a grid of sample sizes (see module doc)."""

    TAG: ClassVar[str] = "p${.p}"

    p: float = 3.0  # the ℓp norm
    n: int = 3000  # rows of every matrix
    dims: list[int] = field(default_factory=lambda: [2, 4, 8])  # column counts d of the family
    mix: list[float] = field(
        default_factory=lambda: [0.0, 0.1, 1.0]
    )  # Gaussian weight t of mixture_matrix (t=0: coordinate blocks, 𝔖=d; t=1: Gaussian)
    schemes: list[str] = field(default_factory=lambda: ["sensitivity", "uniform", "leverage", "lewis"])
    reps: int = 20  # independent samples per (matrix, scheme, m)
    m_points: int = 10  # expected sample sizes m on a log grid ...
    m_min: float = 4.0  # smallest m on the grid, in units of d
    m_max_frac: float = 0.5  # largest m on the grid, as a fraction of n
    eps_target: float = 0.3  # m*(ε): the median distortion over the reps crosses ε here
    stat: str = "median"  # statistic of ε̂ over the reps that defines m*
    m_band: float = 2.0  # m* from a log-log line through the grid points with ε̂ within this factor of ε
    n_random: int = 1000  # random Gaussian directions x
    n_sens_dirs: int = 200  # sensitivity-maximising directions of the top-σ rows
    adv_starts: int = 3  # worst starts per sample refined by projected gradient ascent (both signs)
    adv_steps: int = 12

    def __post_init__(self):
        if not self.p >= 1:
            raise ValueError("p: must be >= 1")
        if self.n < 8:
            raise ValueError("n: must be >= 8")
        if not self.dims or any(int(d) < 1 or int(d) >= self.n for d in self.dims):
            raise ValueError("dims: need a non-empty list of 1 <= d < n")
        if not self.mix or any(not 0.0 <= float(t) <= 1.0 for t in self.mix):
            raise ValueError("mix: need a non-empty list of values in [0, 1]")
        bad = [s for s in self.schemes if s not in lps.SCHEMES]
        if not self.schemes or bad:
            raise ValueError(f"schemes: unknown {bad}; valid: {list(lps.SCHEMES)}")
        if self.reps < 1:
            raise ValueError("reps: must be >= 1")
        if self.m_points < 2:
            raise ValueError("m_points: must be >= 2")
        if not 0 < self.m_max_frac <= 1:
            raise ValueError("m_max_frac: must be in (0, 1]")
        if self.m_min <= 0:
            raise ValueError("m_min: must be > 0")
        if not 0 < self.eps_target < 1:
            raise ValueError("eps_target: must be in (0, 1)")
        if self.m_band < 1:
            raise ValueError("m_band: must be >= 1")
        if self.stat not in STATS:
            raise ValueError(f"stat: one of {STATS}")
        if self.n_random < 1 or self.n_sens_dirs < 0 or self.adv_starts < 0 or self.adv_steps < 0:
            raise ValueError("n_random >= 1, n_sens_dirs >= 0, adv_starts >= 0, adv_steps >= 0")

    # ------------------------------------------------------------------------------------------
    def m_grid(self, d: int) -> np.ndarray:
        lo = max(1.0, self.m_min * d)
        hi = self.m_max_frac * self.n
        return np.unique(np.geomspace(lo, hi, self.m_points).round(2))

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        tasks = [(int(d), float(t)) for d in self.dims for t in self.mix]
        results = map_trials(lambda task: self._one_matrix(seed, *task), tasks, n_jobs)
        points, curves, trials, checks = [], [], [], []
        for res in results:
            points += res["points"]
            curves += res["curves"]
            trials += res["trials"]
            checks.append(res["check"])
        if out_dir is not None:
            write_trials(Path(out_dir) / "trials.csv", trials)
        sens = [q for q in points if q["scheme"] == "sensitivity" and q["m_star"] is not None]
        slope = (
            lps.loglog_slope([q["S"] for q in sens], [q["m_star"] for q in sens]) if len(sens) >= 2 else None
        )
        return {
            "p": self.p,
            "theory_exponent": lps.theory_exponent(self.p),
            "slope_sensitivity": None if slope is None else slope[0],
            "slope_sensitivity_se": None if slope is None else slope[1],
            "n_matrices": len(tasks),
            "max_newton_iters": max(c["newton_iters"] for c in checks),
            "max_lewis_residual": max(c["lewis_residual"] for c in checks),
            "total_sensitivity_in_bounds": all(c["S_in_bounds"] for c in checks),
            "points": points,
            "curves": curves,
            "checks": checks,
        }

    def _one_matrix(self, seed: int, d: int, t: float) -> dict:
        p = float(self.p)
        rng = np.random.default_rng(trial_seed(seed, "matrix", p, d, t))
        A = lps.mixture_matrix(self.n, d, t, rng)
        lev = lps.leverage_scores(A)
        if p == 2:
            sens, Xs, iters = lev.copy(), None, 0
        elif p == 1:
            sens, Xs, iters = lps.lp1_sensitivities(A), None, 0
        else:
            Xs, f, iters = lps.sensitivity_minimizers(A, p)
            sens = np.minimum(1.0, 1.0 / f)
        S = float(sens.sum())
        lewis = lps.lewis_weights(A, p) if "lewis" in self.schemes else None
        lo, hi = d ** min(1.0, p / 2), d ** max(1.0, p / 2)
        check = {
            "d": d,
            "t": t,
            "S": S,
            "newton_iters": int(iters),
            "S_in_bounds": bool(lo * (1 - 1e-6) <= S <= hi * (1 + 1e-6)),
            "lewis_sum": None if lewis is None else float(lewis.sum()),
            "lewis_residual": 0.0 if lewis is None else lps.lewis_residual(A, p, lewis),
        }
        # candidate directions: random, the top-σ rows' maximisers, coordinate axes
        drng = np.random.default_rng(trial_seed(seed, "directions", p, d, t))
        cand = [drng.standard_normal((d, self.n_random)), np.eye(d)]
        if Xs is not None and self.n_sens_dirs:
            cand.append(Xs[:, np.argsort(-sens, kind="stable")[: self.n_sens_dirs]])
        Xc = np.concatenate(cand, axis=1)
        absAXp = lps.abs_power(A @ Xc, p)
        grid = self.m_grid(d)
        points, curves, trials = [], [], []
        for scheme in self.schemes:
            scores = lps.scheme_scores(scheme, p, sens, lev, lewis)
            stat_vals = []
            for m in grid:
                q = lps.inclusion_probabilities(scores, float(m))
                srng = np.random.default_rng(trial_seed(seed, "sample", p, d, t, scheme, float(m)))
                W = lps.sample_weights(q, srng, self.reps)
                ratios, worst_rand = lps.distortion_random(W, absAXp)
                eps = worst_rand
                if self.adv_starts and self.adv_steps:
                    k = min(self.adv_starts, Xc.shape[1])
                    idx = np.argsort(-np.abs(ratios - 1.0), axis=1, kind="stable")[:, :k]
                    X0 = np.transpose(Xc[:, idx], (1, 0, 2))
                    eps = np.maximum(eps, lps.adversarial_distortion(A, p, W, X0, steps=self.adv_steps))
                sv = _stat(eps, self.stat)
                stat_vals.append(sv)
                curves.append(
                    {
                        "d": d,
                        "t": t,
                        "S": S,
                        "scheme": scheme,
                        "m": float(m),
                        "eps_stat": sv,
                        "eps_median": float(np.median(eps)),
                        "eps_q90": float(np.quantile(eps, 0.9)),
                        "eps_random_median": float(np.median(worst_rand)),
                        "rows_mean": float(np.mean(np.count_nonzero(W, axis=1))),
                    }
                )
                for r, (e, er) in enumerate(zip(eps, worst_rand, strict=True)):
                    trials.append(
                        {
                            "p": p,
                            "d": d,
                            "t": t,
                            "scheme": scheme,
                            "m": float(m),
                            "rep": r,
                            "rows": int(np.count_nonzero(W[r])),
                            "eps": float(e),
                            "eps_random": float(er),
                        }
                    )
            m_star = lps.samples_needed(grid, stat_vals, self.eps_target, band=self.m_band)
            points.append(
                {
                    "d": d,
                    "t": t,
                    "S": S,
                    "scheme": scheme,
                    "m_star": m_star,
                    "m_star_over_n": None if m_star is None else m_star / self.n,
                    "eps_target": self.eps_target,
                }
            )
        return {"points": points, "curves": curves, "trials": trials, "check": check}


def _stat(x: np.ndarray, stat: str) -> float:
    if stat == "median":
        return float(np.median(x))
    if stat == "mean":
        return float(np.mean(x))
    return float(np.quantile(x, 0.9))
