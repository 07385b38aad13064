"""Rows are the runs' metrics.json (task-incremental only): group them by stream and read one metric per method,
per seed or as the seed mean. Used by the claims and the figures (never by a run)."""

from __future__ import annotations

import statistics
from collections import defaultdict

from subspacelab.continual.results import runs_by_stream  # noqa: F401  (re-exported for claims, figures)

LABELS = {
    "per_task_lora": "per-task LoRA (one adapter per task)",
    "lora": "sequential LoRA (one adapter)",
    "share": "Share (shared basis + coefficients)",
    "share_wide": "Share, wide ablation (larger k, phi)",
    "joint": "joint (upper bound)",
}


def per_seed(runs: list[dict], metric: str) -> dict[str, dict[int, float]]:
    """method -> {seed: task-incremental ``metric``} (methods or seeds without it are left out)."""
    vals: dict[str, dict[int, float]] = defaultdict(dict)
    for r in runs:
        for m, res in r["results"].items():
            v = (res.get("task") or {}).get(metric)
            if v is not None:
                vals[m][int(r.get("run_seed", r.get("seed", 0)))] = float(v)
    return dict(vals)


def means(runs: list[dict], metric: str) -> dict[str, float]:
    """method -> seed mean of ``metric`` (task-incremental); methods without it are left out."""
    return {m: statistics.fmean(v.values()) for m, v in per_seed(runs, metric).items()}
