"""Derive rules for concrete_merging. A run row holds ``results``: one entry per arm with its average test
``accuracy`` over the tasks, ``per_task`` accuracies and ``normalized`` (merged over individual, averaged).

- ``concrete_paired``: ``reporting.arms.rule_paired`` (paired t-intervals over seeds).
- ``concrete_below_ceiling``: every arm but the ceiling below the ceiling's seed-mean metric.
"""

from __future__ import annotations

from subspacelab.reporting.arms import _mean, per_seed, rule_paired
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, not_run, param


def rule_below_ceiling(claim: dict, rows: list[dict]) -> Verdict:
    metric, ceiling = param(claim, "metric"), param(claim, "ceiling")
    top = per_seed(rows, ceiling, metric)
    arms = [r["arm"] for r in (rows[0].get("results", []) if rows else []) if r["arm"] != ceiling]
    means = {a: _mean(v) for a in arms if (v := per_seed(rows, a, metric))}
    if not top or not means:
        return not_run(f"no run holds both {ceiling} and a merge")
    below = [m < _mean(top) for m in means.values()]
    shown = ", ".join(f"{a} {m:.3f}" for a, m in means.items())
    verdict = REPRODUCED if all(below) else PARTLY if any(below) else NOT
    return Verdict({"value": f"seed-mean {metric}: {ceiling} {_mean(top):.3f}; {shown}"}, verdict, "")


RULES = {"concrete_paired": rule_paired, "concrete_below_ceiling": rule_below_ceiling}
