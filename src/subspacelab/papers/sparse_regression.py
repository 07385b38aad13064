"""Glue for "Sparse Linear Regression is Easy on Random Supports" (Chandrasekaran, Meka, Stavropoulos;
arXiv 2511.06211): one run = one (design, support model, coefficient model); inside it, a sweep over the
number of samples N x trials, every baseline fitted on the same data.

The paper's own two-phase algorithm (§4 preconditioner, §5 solver) is NOT run: its construction could
not be read (see NOTES). Its claim is marked not reproduced; the baselines measure the other half of the
claim (what Lasso/OMP/least squares need on easy vs ill-conditioned designs, random vs adversarial
supports). Maths: ``subspacelab.numerics.sparse_regression``.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from subspacelab.experiments import map_trials, trial_seed, wilson_interval, write_trials
from subspacelab.numerics import sparse_regression as sr

METHODS = ("lasso", "lasso_cv", "lasso_best", "omp", "least_squares", "oracle")
SUPPORTS = ("random", "adversarial")
VALUES = ("gaussian", "worst")
PAPER_METHOD_NAMES = ("paper", "two_phase", "preconditioned_lasso", "cms")


@dataclass
class Experiment:
    """One run: a design and a support/coefficient model; N swept inside, ``trials`` draws per N.

    Every trial draws one design matrix with max(n_grid) rows, one support and one w*, one noise
    vector; the problem at sample size N uses their first N rows (common random numbers across N).
    """

    design: str = "gaussian"          # gaussian | near_dependent | random_walk | block
    kappa: float = 1.0                # population condition number (near_dependent and block only)
    n_blocks: int = 4                 # block design: number of equicorrelated column blocks
    d: int = 200
    k: int = 4
    n_grid: list[int] = field(default_factory=lambda: [20, 30, 50, 75, 100, 150, 200, 300, 400])
    trials: int = 16
    support: str = "random"           # random (the paper's model) | adversarial (near-dependent columns)
    values: str = "gaussian"          # gaussian | worst (least eigenvector of Sigma_SS)
    sigma: float = 0.5                # noise sd; the signal has w*' Sigma w* = 1
    eps: float = 0.125                # target prediction error (sigma^2 / 2)
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    lasso_c: float = 1.0              # alpha = lasso_c * sigma * sqrt(2 log d / N)
    cv: bool = True                   # False drops lasso_cv (the costliest baseline: cv_folds + 1 Lasso paths)
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
            raise ValueError(f"kappa: only the {sr.KAPPA_DESIGNS} designs take kappa (got {self.kappa} with {self.design!r})")
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
        if self.support == "adversarial" and not sr.near_dependent_candidates(self.design, self.d, self.k, self.n_blocks):
            raise ValueError(f"support: 'adversarial' needs near-dependent columns; design {self.design!r} has none")
        if self.support == "adversarial" and self.design == "near_dependent" and math.ceil(self.k / 3) > self.d // 3:
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
            raise ValueError("methods: the paper's two-phase algorithm (§4-§5) is not implemented: its "
                             "construction could not be read; only the baselines " + ", ".join(METHODS) + " exist")
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
            "values": self.values,
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
            out.append({"trial": t, "n": n, "method": m, "error": err, "success": int(err <= cfg["eps"]),
                        "nnz": int(np.count_nonzero(w_hat)), "seconds": time.perf_counter() - t1,
                        "lambda_min_ss": lam_min, "w_l1": float(np.abs(w).sum()),
                        "support": " ".join(map(str, supp)), **extra})
    return out


def _aggregate(records: list[dict], exp: Experiment) -> list[dict]:
    points = []
    for n in sorted(exp.n_grid):
        for m in exp.methods:
            errs = np.array([r["error"] for r in records if r["n"] == n and r["method"] == m])
            succ = int(np.sum(errs <= exp.eps))
            lo, hi = wilson_interval(succ, len(errs))
            points.append({
                "n": n, "method": m, "successes": succ, "trials": len(errs),
                "success_rate": succ / len(errs), "ci_low": lo, "ci_high": hi,
                "median_err": float(np.median(errs)), "q25_err": float(np.quantile(errs, 0.25)),
                "q75_err": float(np.quantile(errs, 0.75)), "mean_err": float(np.mean(errs)),
                "theory_least_squares": float(sr.least_squares_expected_error(n, exp.d, exp.sigma)),
                "theory_oracle": float(sr.oracle_expected_error(n, exp.k, exp.sigma)),
            })
    return points


# ----------------------------------------------------------------------------------------------
# Derive rules
# ----------------------------------------------------------------------------------------------


def _matches(row: dict, select: dict) -> bool:
    exp = row.get("experiment", {})
    for key, want in select.items():
        have = exp.get(key, row.get(key))
        if isinstance(want, float) or isinstance(have, float):
            try:
                if not math.isclose(float(have), float(want), rel_tol=1e-9):
                    return False
            except (TypeError, ValueError):
                return False
        elif have != want:
            return False
    return True


def _pooled_n_eps(rows: list[dict], select: dict, method: str) -> dict | None:
    """Pool the trials of every run (all seeds) matching ``select``; N_eps of ``method`` on the pooled
    success rates. None when no run matches."""
    sel = [r for r in rows if _matches(r, select)]
    if not sel:
        return None
    succ: dict[int, int] = {}
    tot: dict[int, int] = {}
    for r in sel:
        for p in r["points"]:
            if p["method"] == method:
                succ[p["n"]] = succ.get(p["n"], 0) + p["successes"]
                tot[p["n"]] = tot.get(p["n"], 0) + p["trials"]
    if not tot:
        return None
    ns = sorted(tot)
    rates = [succ[n] / tot[n] for n in ns]
    n_eps = sr.n_to_reach(ns, rates)
    d = sel[0]["d"]
    return {"n_eps": n_eps, "d": d, "frac": (n_eps / d if n_eps is not None else None), "n_max": max(ns),
            "runs": len(sel), "trials_per_n": tot[ns[0]], "rates": dict(zip(ns, rates, strict=True))}


def _fmt(res: dict | None) -> str:
    if res is None:
        return "no run"
    if res["n_eps"] is None:
        return f"not reached by N={res['n_max']} (>{res['n_max'] / res['d']:.2g} d)"
    return f"N_eps={res['n_eps']} ({res['frac']:.2g} d)"


def _label(select: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in select.items())


def _rule_not_implemented(claim: dict, rows: list[dict]):
    d = claim.get("derive", {})
    missing = d.get("missing", "the paper's algorithm")
    # The rule: a construction that cannot be implemented faithfully is "not reproduced", never
    # replaced by another method under the paper's name.
    return ({"value": "paper's algorithm not implemented"}, "not_reproduced",
            f"{missing} could not be read (only the abstract, §1's opening and the table of contents were "
            "reachable), so the paper's algorithm is not implemented and nothing is run under its name.")


def _rule_n_eps_small(claim: dict, rows: list[dict]):
    """Reproduced if the pooled N_eps/d <= reproduced_max_frac, partly if <= partly_max_frac."""
    d = claim["derive"]
    res = _pooled_n_eps(rows, d["select"], d["method"])
    if res is None:
        return {"value": "no run"}, "not_run", "no run matches the claim's selection at this scale"
    measured = {"value": f"{d['method']}: {_fmt(res)}", "n_eps": res["n_eps"], "frac_of_d": res["frac"],
                "trials_per_n": res["trials_per_n"], "runs": res["runs"]}
    frac = res["frac"]
    if frac is not None and frac <= d["reproduced_max_frac"]:
        verdict = "reproduced"
    elif frac is not None and frac <= d["partly_max_frac"]:
        verdict = "partly"
    else:
        verdict = "not_reproduced"
    return measured, verdict, f"{_label(d['select'])}; success = prediction error <= eps in >= 50% of trials"


def _rule_n_eps_large(claim: dict, rows: list[dict]):
    """For every selection, 'needs N ~ d' means N_eps/d >= min_frac or not reached within the grid.
    Reproduced if all selections need N ~ d, partly if some do, not_reproduced if none."""
    d = claim["derive"]
    parts, hits, seen = [], 0, 0
    detail = {}
    for select in d["selects"]:
        res = _pooled_n_eps(rows, select, d["method"])
        if res is None:
            continue
        seen += 1
        big = res["frac"] is None or res["frac"] >= d["min_frac"]
        hits += int(big)
        parts.append(f"{select.get('design')}/{select.get('support')}/{select.get('values')}: {_fmt(res)}")
        detail[_label(select)] = res["n_eps"]
    if seen == 0:
        return {"value": "no run"}, "not_run", "no run matches the claim's selections at this scale"
    verdict = "reproduced" if hits == seen else ("partly" if hits > 0 else "not_reproduced")
    return ({"value": "; ".join(parts), "n_eps": detail, "needs_order_d": f"{hits}/{seen}"}, verdict,
            f"{d['method']}; 'needs N ~ d' = N_eps >= {d['min_frac']} d or not reached within the grid")


def _rule_support_gap(claim: dict, rows: list[dict]):
    """Per design pair (random, adversarial): the adversarial support needs >= factor x the random
    support's N_eps (not reached = beyond the grid: counts as larger than any reached value)."""
    d = claim["derive"]
    parts, hits, seen = [], 0, 0
    for pair in d["pairs"]:
        a = _pooled_n_eps(rows, pair["random"], d["method"])
        b = _pooled_n_eps(rows, pair["adversarial"], d["method"])
        if a is None or b is None:
            continue
        seen += 1
        if a["n_eps"] is None:
            ok = False  # random support never reached: no gap can be shown
        elif b["n_eps"] is None:
            ok = True
        else:
            ok = b["n_eps"] >= d["factor"] * a["n_eps"]
        hits += int(ok)
        parts.append(f"{pair['random'].get('design')}: random {_fmt(a)} vs adversarial {_fmt(b)}")
    if seen == 0:
        return {"value": "no run"}, "not_run", "no run matches the claim's selections at this scale"
    verdict = "reproduced" if hits == seen else ("partly" if hits > 0 else "not_reproduced")
    return ({"value": "; ".join(parts), "gap_shown": f"{hits}/{seen}"}, verdict,
            f"{d['method']}; gap = adversarial N_eps >= {d['factor']} x random N_eps")


RULES = {
    "not_implemented": _rule_not_implemented,
    "n_eps_small": _rule_n_eps_small,
    "n_eps_large": _rule_n_eps_large,
    "support_gap": _rule_support_gap,
}

NOTES = [
    "The paper's algorithm (§4 'Phase 1: finding a good preconditioner', §5 'Phase 2: solving SLR after "
    "finding a good preconditioner') is NOT implemented: only the abstract, the opening of §1 and the table "
    "of contents of arXiv 2511.06211v1 could be retrieved; the preconditioner construction, the Phase-2 "
    "estimator and the theorem's constants were not. Its claim is marked not reproduced.",
    "The paper has no experiments. Designs, supports, coefficient models, sigma, eps and the N grid are our "
    "own protocol [reconstructed], fixed before any run: rows iid N(0, Sigma) with unit-variance columns; "
    "w* scaled to w*' Sigma w* = 1; sigma = 0.5; eps = sigma^2/2 = 0.125 (half the error of interpolating "
    "least squares, an eighth of the zero estimator's error 1).",
    "Error = (1/N)||X w* - X w_hat||^2, the paper's in-sample prediction error (§1). N_eps = smallest grid N "
    "from which >= 50% of trials have error <= eps at every larger grid N (no interpolation).",
    "'worst' coefficients = a least eigenvector of Sigma_SS on the drawn support (the paper's model fixes only "
    "the support at random; coefficients may be arbitrary). 'adversarial' supports = whole near-dependent "
    "triples (near_dependent), k consecutive columns in the second half (random_walk) or k columns of one "
    "block (block).",
    "Random supports of the near_dependent design almost never hold two columns of one triple (Sigma_SS ~ I), "
    "so its random-support runs do not depend on kappa; only its adversarial supports see the near-null "
    "directions. The block design (4 equicorrelated blocks, kappa = 1e6), where ~90% of random 4-subsets hold "
    "two columns of one block, was added after the first cpu-scale run as an exploratory stress test of the "
    "random-support case; its claim is marked exploratory.",
    "All Lasso fits use scikit-learn's exact LARS-Lasso homotopy (LassoLars / LassoLarsCV / lars_path), the "
    "same estimator as coordinate-descent Lasso/LassoCV (unit test), because coordinate descent did not "
    "converge on the kappa = 1e6 design (error 0.51 vs the exact 0.077 after 1e5 sweeps) and took 5-50 s "
    "per LassoCV fit on the random walk. 'lasso': alpha = sigma sqrt(2 log d / N) with the true sigma; "
    "'lasso_cv': alpha by cv_folds-fold contiguous CV (3 at cpu scale, 5 at paper scale); 'lasso_best': the Lasso at the best alpha in hindsight "
    "(min error over the whole path: an oracle envelope of every alpha choice, not an algorithm); 'omp': "
    "OrthogonalMatchingPursuit given the true k; 'oracle': least squares on the true support (a lower "
    "reference). Least squares (min-norm lstsq) is the generic N = O(d) polynomial-time method; its expected "
    "error sigma^2 min(N, d)/N is drawn as theory.",
]


# ----------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------

_STYLE = {"lasso": ("C0", "o"), "lasso_cv": ("C1", "s"), "lasso_best": ("C4", "D"), "omp": ("C2", "^"),
          "least_squares": ("C3", "v"),
          "oracle": ("C7", ".")}


def _run_key(r: dict) -> tuple:
    e = r.get("experiment", {})
    return (e.get("design", r.get("design")), float(e.get("kappa", 1.0)), e.get("support", r.get("support")),
            e.get("values", r.get("values")))


def _run_title(key: tuple) -> str:
    design, kappa, support, values = key
    kap = f" κ={kappa:.0e}" if design in sr.KAPPA_DESIGNS else ""
    return f"{design}{kap}\n{support} support, {values} values"


def _nice_ticks(ngrid) -> list[float]:
    """At most ~6 of the grid's N values, spread in log scale, for readable tick labels."""
    ns = sorted(float(n) for n in ngrid)
    if len(ns) <= 6:
        return ns
    idx = np.unique(np.round(np.linspace(0, len(ns) - 1, 6)).astype(int))
    return [ns[i] for i in idx]


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not rows:
        return []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(_run_key(r), []).append(r)
    keys = sorted(groups, key=lambda k: (sr.DESIGNS.index(k[0]) if k[0] in sr.DESIGNS else 9, k[1],
                                         SUPPORTS.index(k[2]) if k[2] in SUPPORTS else 9, k[3]))
    paths = []

    # 1. error vs N per configuration, with the theory curves on the same axes.
    ncol = min(4, len(keys))
    nrow = math.ceil(len(keys) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        rs = groups[key]
        d, k, sigma, eps = rs[0]["d"], rs[0]["k"], rs[0]["sigma"], rs[0]["eps"]
        methods = [m for m in METHODS if any(p["method"] == m for p in rs[0]["points"])]
        for m in methods:
            ns = sorted({p["n"] for r in rs for p in r["points"] if p["method"] == m})
            med = [statistics.median(p["median_err"] for r in rs for p in r["points"]
                                     if p["method"] == m and p["n"] == n) for n in ns]
            color, marker = _STYLE.get(m, ("k", "x"))
            ax.plot(ns, med, marker=marker, color=color, lw=1.2, ms=4, label=m)
        ngrid = np.array(sorted({p["n"] for r in rs for p in r["points"]}), dtype=float)
        nfine = np.geomspace(ngrid.min(), ngrid.max(), 200)
        ax.plot(nfine, sr.least_squares_expected_error(nfine, d, sigma), "--", color="C3", lw=1,
                label="theory LS σ²min(N,d)/N")
        ax.plot(nfine, sr.oracle_expected_error(nfine, k, sigma), ":", color="C7", lw=1, label="theory oracle σ²k/N")
        ax.axhline(eps, color="k", lw=0.8, ls="-.", label=f"ε={eps:g}")
        ax.axvline(d, color="grey", lw=0.8, ls=":", label="N=d")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(_nice_ticks(ngrid)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(_run_title(key), fontsize=8)
        ax.set_xlabel("N (samples)", fontsize=8)
        ax.set_ylabel("median (1/N)||X(ŵ−w*)||²", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.25)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8, frameon=False)
    fig.suptitle("Prediction error vs N (paper's algorithm not run: baselines only)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    p = out_dir / "sparse_regression_error_vs_n.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    # 2. N_eps / d per configuration and method, against the theory for least squares.
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(keys) + 2) + 3.0, 4.6))
    methods = [m for m in METHODS if any(p["method"] == m for r in rows for p in r["points"])]
    width = 0.8 / max(1, len(methods))
    top = 0.0
    for j, m in enumerate(methods):
        xs, ys, open_x, open_y = [], [], [], []
        for i, key in enumerate(keys):
            sel = dict(zip(("design", "kappa", "support", "values"), key, strict=True))
            res = _pooled_n_eps(groups[key], sel, m)
            if res is None:
                continue
            x = i + (j - (len(methods) - 1) / 2) * width
            if res["frac"] is None:
                open_x.append(x)
                open_y.append(res["n_max"] / res["d"])
            else:
                xs.append(x)
                ys.append(res["frac"])
            top = max(top, res["n_max"] / res["d"])
        color, marker = _STYLE.get(m, ("k", "x"))
        ax.scatter(xs, ys, color=color, marker=marker, label=m, zorder=3)
        ax.scatter(open_x, open_y, facecolors="none", edgecolors=color, marker=marker, zorder=3)
    d0, s0, e0 = rows[0]["d"], rows[0]["sigma"], rows[0]["eps"]
    ls_theory = _ls_theory_n_eps(d0, s0, e0)
    ax.axhline(1.0, color="grey", ls=":", lw=1, label="N = d")
    if ls_theory is not None:
        ax.axhline(ls_theory / d0, color="C3", ls="--", lw=1, label="theory LS: σ²d/ε")
    k0 = rows[0]["k"]
    ax.axhline(s0**2 * k0 * math.log(d0 / k0) / e0 / d0, color="C9", ls="-.", lw=1,
               label="σ²k·log(d/k)/ε (info-theoretic order, constant 1)")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([_run_title(k).replace("\n", "\n") for k in keys], rotation=60, ha="right", fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel("N_ε / d  (open marker: not reached by max N)")
    ax.set_title(f"Samples to reach ε={e0:g} (d={d0}, k={k0}, σ={s0:g})", fontsize=9)
    ax.grid(True, axis="y", which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    p = out_dir / "sparse_regression_n_eps.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths
