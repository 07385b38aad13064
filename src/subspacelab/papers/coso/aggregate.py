"""Rows are the runs' metrics.json: group them by stream and read one metric per method, per seed or as the seed
mean. Used by the claims and the figures (never by a run)."""

from __future__ import annotations

import statistics
from collections import defaultdict

from subspacelab.continual.results import runs_by_stream  # noqa: F401  (re-exported for claims, figures)

LABELS = {
    "seq_ft": "sequential FT",
    "lora": "sequential LoRA",
    "galore": "GaLore (no history)",
    "fixed_subspace": "fixed orthogonal subspace",
    "coso": "CoSO",
    "coso_gap": "CoSO, ablation update_gap",
    "joint": "joint (upper bound)",
}


def per_seed(runs: list[dict], protocol: str, metric: str) -> dict[str, dict[int, float]]:
    """method -> {seed: ``metric`` under ``protocol``} (methods or seeds without it are left out)."""
    vals: dict[str, dict[int, float]] = defaultdict(dict)
    for r in runs:
        for m, res in r["results"].items():
            v = (res.get(protocol) or {}).get(metric)
            if v is not None:
                vals[m][int(r.get("run_seed", r.get("seed", 0)))] = float(v)
    return dict(vals)


def means(runs: list[dict], protocol: str, metric: str) -> dict[str, float]:
    """method -> seed mean of ``metric`` under ``protocol`` (methods without it are left out)."""
    return {m: statistics.fmean(v.values()) for m, v in per_seed(runs, protocol, metric).items()}


def settings(rows: list[dict], protocols) -> list[tuple[str, str, list[dict]]]:
    """(stream, protocol, runs) for every stream and each of ``protocols`` it was evaluated under."""
    return [
        (stream, p, runs)
        for stream, runs in sorted(runs_by_stream(rows).items())
        for p in protocols
        if p in runs[0]["protocols"]
    ]
