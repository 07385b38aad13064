"""Derive rules for qoed_exploration: paired per-seed gains of one exploration objective over another, and the
bound on the selected set."""

from __future__ import annotations

import numpy as np

from subspacelab.reporting.stats import t_interval
from subspacelab.reporting.verdict import (
    NOT,
    PARTLY,
    REPRODUCED,
    Verdict,
    cap_for_one_seed,
    holds,
    not_run,
    param,
)


def method_rows(rows: list[dict], method: str) -> dict[int, dict]:
    """The runs of one method, by seed."""
    return {int(r.get("seed", 0)): r for r in rows if r.get("method") == method}


def paired_gains(rows: list[dict], better: str, other: str, metric: str) -> list[float]:
    """1 − metric(better) / metric(other) for every seed both methods ran, in seed order."""
    a, b = method_rows(rows, better), method_rows(rows, other)
    return [1.0 - float(a[s][metric]) / float(b[s][metric]) for s in sorted(set(a) & set(b))]


def rule_paired_gain(claim: dict, rows: list[dict]) -> Verdict:
    """Reproduced when the 95% t-interval over seeds of the paired gain lies above 0; partly when its mean does."""
    better, other, metric = param(claim, "better"), param(claim, "other"), param(claim, "metric")
    gains = paired_gains(rows, better, other, metric)
    if not gains:
        return not_run(f"no seed with both {better} and {other} runs")
    iv = t_interval(gains)
    n = len(gains)
    verdict = REPRODUCED if n >= 2 and iv.lo > 0 else PARTLY if iv.mean > 0 else NOT
    a, b = method_rows(rows, better), method_rows(rows, other)
    mean_a = float(np.mean([a[s][metric] for s in sorted(set(a) & set(b))]))
    mean_b = float(np.mean([b[s][metric] for s in sorted(set(a) & set(b))]))
    paper = param(claim, "paper_percent")
    value = f"gain {iv.mean:+.1%} [{iv.lo:+.1%}, {iv.hi:+.1%}] (n = {n} seeds)" + (
        f"; paper {paper:+.2f}%" if paper is not None else ""
    )
    note = f"mean {metric}: {better} {mean_a:.4g}, {other} {mean_b:.4g}; {sum(g > 0 for g in gains)}/{n} seeds favour {better}"
    return Verdict(
        {
            "value": value,
            "per_seed": gains,
            f"{better}_mean": mean_a,
            f"{other}_mean": mean_b,
            **iv.as_dict(),
        },
        cap_for_one_seed(verdict, n),
        note,
    )


def rule_selection_bounded(claim: dict, rows: list[dict]) -> Verdict:
    """The largest count of physical parameters selected at any step of the named methods' runs <= the bound."""
    methods = param(claim, "methods", ["qoed_agnostic", "qoed"])
    runs = [r for r in rows if r.get("method") in methods]
    if not runs:
        return not_run(f"no {' or '.join(methods)} runs")
    most = max(int(r["max_physical_selected"]) for r in runs)
    mean = float(np.mean([r["mean_selected"] for r in runs]))
    bound = int(param(claim, "max_physical", 5))
    value = f"at most {most} of 6 physical parameters selected (mean set size {mean:.2f}, {len(runs)} runs)"
    return Verdict({"value": value, "max": most, "mean_selected": mean}, holds(most <= bound), "")


RULES = {"qoed_paired_gain": rule_paired_gain, "qoed_selection_bounded": rule_selection_bounded}
