"""Reading the S2CAG runs' metrics (a row is a run's metrics.json; the run's config is under "experiment"):
seed means per dataset and method, per-seed values for paired comparisons, and the scaling points."""

from __future__ import annotations

import statistics
from collections import defaultdict

from subspacelab.papers.s2cag.experiment import DATASETS

PAPER_DATASETS = ("acm", "citeseer", "wiki")  # the paper's own datasets that are available offline
LABELS = {
    "s2cag": "S2CAG",
    "m_s2cag": "M-S2CAG",
    "s2cag_kmeans": "S2CAG (k-means rounding)",
    "m_s2cag_kmeans": "M-S2CAG (k-means rounding)",
    "kmeans": "k-means",
    "spectral": "spectral (kNN of X)",
    "spectral_graph": "spectral (A)",
    "ssc": "SSC",
    "ensc": "EnSC",
    "lsr": "LSR",
    "lrr": "LRR",
    "ssc_omp": "SSC-OMP",
}
OURS = ("s2cag", "m_s2cag", "s2cag_kmeans", "m_s2cag_kmeans")
METRICS = ("acc", "nmi", "ari")

__all__ = [
    "DATASETS",
    "LABELS",
    "METRICS",
    "OURS",
    "PAPER_DATASETS",
    "is_run",
    "per_seed",
    "quality_means",
    "scaling_points",
]


def is_run(row: dict, kind: str, dataset: str | None = None) -> bool:
    exp = row.get("experiment") or {}
    return exp.get("kind") == kind and (dataset is None or exp.get("dataset") == dataset)


def quality_means(rows: list[dict], dataset: str) -> dict[str, dict]:
    """method -> {acc, nmi, ari, seconds, peak_mib: (mean, sd, n)} over the seeds of ``dataset``; refused
    methods -> {"refused": message}."""
    vals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    refused: dict[str, str] = {}
    for row in rows:
        if not is_run(row, "quality", dataset):
            continue
        for r in row.get("results", []):
            if r["status"] != "ok":
                refused[r["method"]] = r["message"]
                continue
            for k in ("acc", "nmi", "ari", "seconds", "peak_mib"):
                vals[r["method"]][k].append(float(r[k]))
    out: dict[str, dict] = {}
    for m, by in vals.items():
        out[m] = {
            k: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))
            for k, v in by.items()
        }
    for m, msg in refused.items():
        out.setdefault(m, {"refused": msg})
    return out


def per_seed(rows: list[dict], dataset: str, metric: str) -> dict[str, dict[int, float]]:
    """method -> {seed: metric} on ``dataset`` (methods that ran; refusals left out)."""
    out: dict[str, dict[int, float]] = defaultdict(dict)
    for row in rows:
        if is_run(row, "quality", dataset):
            for r in row.get("results", []):
                if r["status"] == "ok":
                    out[r["method"]][int(row.get("seed", 0))] = float(r[metric])
    return dict(out)


def scaling_points(rows: list[dict], method: str) -> list[dict]:
    return [
        p for row in rows if is_run(row, "scaling") for p in row.get("points", []) if p["method"] == method
    ]
