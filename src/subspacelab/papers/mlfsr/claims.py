"""Derive rules for mlfsr. A run row holds ``results``: one entry per arm with its test ``psnr``, ``parameters``
and, for the three architectures, ``efficiency``: per LR side (a string key) the inference ``seconds`` and
``peak_mb``; the ``bicubic`` entry is the per-view bicubic upsample.

- ``mlfsr_paired``: ``reporting.arms.rule_paired`` (paired t-intervals over seeds, an optional margin).
- ``mlfsr_cheaper``: at the largest side every run measured, the paired t-interval over seeds of the baseline's
  ``metric`` minus the arm's above 0 (``reporting.paired``); the value lists every side's seed means and the
  log-log slope of each against the pixel count.
- ``mlfsr_beats_floor``: every arm's seed-mean metric above the baseline's.
- ``mlfsr_matched_sizes``: every arm's parameters within ``tolerance`` of the reference arm's.
"""

from __future__ import annotations

import math

from subspacelab.reporting.arms import _mean, per_seed, rule_paired
from subspacelab.reporting.paired import paired_verdict
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, not_run, param


def _arms(rows: list[dict]) -> list[str]:
    seen = []
    for row in rows:
        seen += [r["arm"] for r in row.get("results", []) if r["arm"] not in seen]
    return seen


def efficiency_curve(rows: list[dict], arm: str, metric: str) -> dict[int, float]:
    """LR side -> the seed-mean ``metric`` of ``arm``'s inference, over the sides that every run measured."""
    per_side: dict[int, list[float]] = {}
    runs = [r for row in rows for r in row.get("results", []) if r["arm"] == arm and "efficiency" in r]
    for r in runs:
        for side, cost in r["efficiency"].items():
            per_side.setdefault(int(side), []).append(float(cost[metric]))
    return {s: sum(v) / len(v) for s, v in sorted(per_side.items()) if len(v) == len(runs)}


def loglog_slope(curve: dict[int, float]) -> float:
    """The least-squares slope of log(value) against log(side²), the pixel count of a view."""
    xs, ys = [math.log(s * s) for s in curve], [math.log(max(v, 1e-12)) for v in curve.values()]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else float("nan")


def rule_cheaper(claim: dict, rows: list[dict]) -> Verdict:
    metric, arm, baseline = param(claim, "metric"), param(claim, "arm"), param(claim, "baseline")
    ours, theirs = efficiency_curve(rows, arm, metric), efficiency_curve(rows, baseline, metric)
    sides = sorted(set(ours) & set(theirs))
    if not sides:
        return not_run(f"no run measured {metric} of both {arm} and {baseline}")
    shown = "; ".join(f"{s}: {ours[s]:.4g} vs {theirs[s]:.4g}" for s in sides)
    slopes = {a: loglog_slope({s: c[s] for s in sides}) for a, c in ((arm, ours), (baseline, theirs))}
    slope_text = ", ".join(f"{a} {v:.2f}" for a, v in slopes.items()) if len(sides) > 1 else "-"
    value = (f"seed-mean {metric} per LR side ({arm} vs {baseline}): {shown}; log-log slope against the pixel count: "
             f"{slope_text}")  # fmt: skip
    largest, diffs = (
        sides[-1],
        [],
    )  # per seed: how much cheaper the arm is than the baseline at the largest side
    for row in rows:
        cost = {r["arm"]: r["efficiency"] for r in row.get("results", []) if "efficiency" in r}
        if arm in cost and baseline in cost and str(largest) in cost[arm] and str(largest) in cost[baseline]:
            diffs.append(float(cost[baseline][str(largest)][metric]) - float(cost[arm][str(largest)][metric]))
    verdict, intervals, n = paired_verdict({"saved": diffs})
    iv = intervals["saved"]
    value += (
        f"; {baseline} − {arm} at side {largest}: {iv.mean:+.4g} [{iv.lo:+.4g}, {iv.hi:+.4g}] (n = {n} seeds)"
    )
    measured = {
        "value": value,
        "curves": {arm: ours, baseline: theirs},
        "slopes": slopes,
        "saved": iv.as_dict(),
    }
    return Verdict(measured, verdict, "")


def rule_beats_floor(claim: dict, rows: list[dict]) -> Verdict:
    metric, baseline = param(claim, "metric"), param(claim, "baseline")
    floor = per_seed(rows, baseline, metric)
    arms = [a for a in _arms(rows) if a != baseline]
    means = {a: _mean(v) for a in arms if (v := per_seed(rows, a, metric))}
    if not floor or not means:
        return not_run(f"no run holds both {baseline} and a trained arm")
    ok = [m > _mean(floor) for m in means.values()]
    shown = ", ".join(f"{a} {m:.3f}" for a, m in means.items())
    verdict = REPRODUCED if all(ok) else PARTLY if any(ok) else NOT
    return Verdict({"value": f"seed-mean {metric}: {baseline} {_mean(floor):.3f}; {shown}"}, verdict, "")


def rule_matched_sizes(claim: dict, rows: list[dict]) -> Verdict:
    arm, tolerance = param(claim, "arm"), float(param(claim, "tolerance"))
    sizes = {a: _mean(v) for a in _arms(rows) if (v := per_seed(rows, a, "parameters"))}
    if arm not in sizes:
        return not_run(f"no run counted {arm}'s parameters")
    gaps = {a: n / sizes[arm] - 1 for a, n in sizes.items()}
    shown = ", ".join(f"{a} {int(n):,} ({gaps[a]:+.1%})" for a, n in sizes.items())
    verdict = REPRODUCED if all(abs(g) <= tolerance for g in gaps.values()) else NOT
    return Verdict({"value": f"parameters: {shown}", "gaps": gaps}, verdict, "")


RULES = {
    "mlfsr_paired": rule_paired,
    "mlfsr_cheaper": rule_cheaper,
    "mlfsr_beats_floor": rule_beats_floor,
    "mlfsr_matched_sizes": rule_matched_sizes,
}
