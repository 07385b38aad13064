"""Reading finished continual-learning runs (their metrics.json rows): group them by stream and draw the
average-accuracy-vs-tasks curve of each method. Used by the papers' claims and figures, never by a run."""

from __future__ import annotations

import statistics
from collections import defaultdict


def runs_by_stream(rows: list[dict]) -> dict[str, list[dict]]:
    """stream tag -> the runs of that stream (rows without per-method results are skipped)."""
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if "results" in r and "stream" in r:
            by[r["stream"]].append(r)
    return dict(by)


def plot_accuracy_vs_tasks(ax, stream: str, runs: list[dict], labels: dict[str, str], protocol: str) -> None:
    """Seed-mean average accuracy after each task, one line per method of ``labels`` (the joint upper bound as
    a dashed level), for one stream under one protocol (``task`` or ``class``)."""
    for m in labels:
        curves = [
            r["results"][m][protocol]["acc_curve"]
            for r in runs
            if m in r["results"] and (r["results"][m].get(protocol) or {}).get("acc_curve")
        ]
        if curves:
            T = len(curves[0])
            ax.plot(
                range(1, T + 1),
                [statistics.fmean(c[i] for c in curves) for i in range(T)],
                "o-",
                label=labels[m],
                ms=3,
            )
        elif m == "joint" and m in runs[0]["results"]:
            ax.axhline(
                statistics.fmean(r["results"][m][protocol]["final_acc"] for r in runs),
                color="k",
                ls="--",
                label=labels[m],
            )
    ax.set(
        title=f"{stream} ({protocol}-IL, n={len(runs)})",
        xlabel="tasks learned",
        ylabel="average accuracy so far",
        ylim=(0, 1),
    )
    ax.legend(fontsize=6)
