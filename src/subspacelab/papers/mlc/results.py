"""Reading the MLC runs' metrics (a row is a run's metrics.json; the run's config is under "experiment"):
runs per dataset, per-seed scores of each method, seed means."""

from __future__ import annotations

import statistics
from collections import defaultdict

LABELS = {
    "mlc": "MLC (Γ read-out)",
    "mlc_random_init": "MLC, random cluster-head init",
    "kmeans_tcr": "k-means on Z_TCR",
    "kmeans_mlc": "k-means on Z_MLC",
    "ensc_tcr": "EnSC on Z_TCR",
    "ensc_mlc": "EnSC on Z_MLC",
    "ssc_omp_tcr": "SSC-OMP on Z_TCR",
    "ssc_omp_mlc": "SSC-OMP on Z_MLC",
}
# paper Table 2 (CIFAR-10, ACC / NMI in %)
PAPER_TABLE2 = {
    "ensc_tcr": (72.2, 67.9),
    "ensc_mlc": (81.5, 79.2),
    "ssc_omp_tcr": (67.8, 64.5),
    "ssc_omp_mlc": (78.4, 76.3),
    "mlc": (86.3, 78.3),
}


def runs_by_dataset(rows: list[dict]) -> dict[str, list[dict]]:
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if "results" in r and "dataset" in r:
            by[r["dataset"]].append(r)
    return dict(by)


def seed_of(run: dict) -> int:
    return int(run.get("seed", (run.get("experiment") or {}).get("seed", 0)))


def mean(vals) -> float:
    vals = [float(v) for v in vals if v is not None]
    return statistics.fmean(vals) if vals else float("nan")


def method_means(runs: list[dict], metric: str = "acc") -> dict[str, tuple[float, float, int]]:
    """method -> (mean, sd, n seeds) of ``metric``."""
    vals: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for m, res in r["results"].items():
            if res.get(metric) is not None:
                vals[m].append(float(res[metric]))
    return {
        m: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)) for m, v in vals.items()
    }


def per_seed(runs: list[dict], method: str, metric: str = "acc") -> dict[int, float]:
    """seed -> ``metric`` of ``method`` (seeds where it ran)."""
    return {
        seed_of(r): float(r["results"][method][metric])
        for r in runs
        if method in r["results"] and r["results"][method].get(metric) is not None
    }


def fmt_means(means: dict, methods) -> str:
    return ", ".join(f"{m} {means[m][0]:.3f}" for m in methods if m in means)
