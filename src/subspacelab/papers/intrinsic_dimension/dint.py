"""The intrinsic dimension of a table of runs: from accuracy-vs-d curves to d_int.

Intrinsic dimension (Li et al., 2018): d_int is the smallest d of the grid whose accuracy reaches a
threshold. The threshold is either ``frac`` x the full-space accuracy of the same data and model
(the paper's text: "90% of the baseline") or a fixed accuracy (what the paper's plotting code does
for MNIST by passing baseline=1.0). No interpolation between grid points, as in that code.
"""

from __future__ import annotations

import statistics
from collections import defaultdict


def matches(row: dict, select: dict) -> bool:
    return all(row.get(k) == v for k, v in select.items())


def accuracy_curves(rows: list[dict], select: dict, metric: str = "test_acc") -> dict[int, dict[int, float]]:
    """seed -> {d: accuracy} for the subspace runs matching ``select``."""
    curves: dict[int, dict[int, float]] = defaultdict(dict)
    for r in rows:
        if r.get("method") == "intrinsic" and matches(r, select):
            curves[r["seed"]][r["d"]] = r[metric]
    return dict(curves)


def baselines(rows: list[dict], select: dict, metric: str = "test_acc") -> dict[int, float]:
    """seed -> full-space accuracy for the runs matching ``select``."""
    return {r["seed"]: r[metric] for r in rows if r.get("method") == "full" and matches(r, select)}


def threshold_value(threshold: dict, baseline: float | None) -> float | None:
    if "absolute" in threshold:
        return float(threshold["absolute"])
    if baseline is None:
        return None
    return float(threshold["relative_to_baseline"]) * baseline


def first_d_reaching(curve: dict[int, float], thr: float | None) -> int | None:
    if thr is None:
        return None
    for d in sorted(curve):
        if curve[d] >= thr:
            return d
    return None


def mean_curve(curves: dict[int, dict[int, float]]) -> dict[int, float]:
    ds = sorted({d for c in curves.values() for d in c})
    return {d: statistics.fmean(c[d] for c in curves.values() if d in c) for d in ds}


def dint(rows: list[dict], select: dict, threshold: dict) -> dict:
    """d_int per seed and of the seed-averaged curve, with everything needed to check it."""
    curves, base = accuracy_curves(rows, select), baselines(rows, select)
    per_seed = {}
    for seed, curve in sorted(curves.items()):
        per_seed[seed] = first_d_reaching(curve, threshold_value(threshold, base.get(seed)))
    mc = mean_curve(curves) if curves else {}
    mean_base = statistics.fmean(base.values()) if base else None
    thr = threshold_value(threshold, mean_base)
    reached = [v for v in per_seed.values() if v is not None]
    return {
        "curve_value": first_d_reaching(mc, thr),
        "per_seed": per_seed,
        "mean": statistics.fmean(reached) if reached else None,
        "sd": statistics.stdev(reached) if len(reached) > 1 else (0.0 if reached else None),
        "n": len(reached),
        "n_seeds": len(per_seed),
        "threshold": thr,
        "baseline_mean": mean_base,
        "grid": sorted(mc),
        "mean_curve": mc,
    }


def grid_steps_apart(grid: list[int], a: int, b: int) -> int:
    return abs(grid.index(a) - grid.index(b))
