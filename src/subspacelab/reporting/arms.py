"""Derive rules for experiments whose run rows hold ``results``: one entry per arm (``{"arm": name, ...}``) with
its metrics, possibly nested (a metric is a dotted path: ``probe``, ``geometry.radius``).

- ``rule_paired``: for every [a, b] of ``derive.pairs``, the paired t-interval over seeds of metric(a) − metric(b)
  (b − a with ``lower_is_better``) passes when its lower end is above −``margin`` (``reporting.paired``).
- ``rule_mean_at_least``: the seed mean of one arm's metric against ``reproduced`` and ``partly`` thresholds, for
  every metric of ``derive.metrics`` (all reach ``reproduced``: reproduced; all reach ``partly``: partly).
"""

from __future__ import annotations

from subspacelab.reporting.paired import paired_verdict
from subspacelab.reporting.stats import t_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, not_run, param


def metric_of(result: dict, metric: str) -> float | None:
    value = result
    for key in metric.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


def per_seed(rows: list[dict], arm: str, metric: str) -> dict[int, float]:
    """Each seed's ``metric`` of ``arm``."""
    out = {}
    for row in rows:
        for r in row.get("results", []):
            if r["arm"] == arm and (v := metric_of(r, metric)) is not None:
                out[int(row.get("seed", 0))] = v
    return out


def _mean(values: dict[int, float]) -> float:
    return sum(values.values()) / len(values) if values else float("nan")


def rule_paired(claim: dict, rows: list[dict]) -> Verdict:
    metric, margin = param(claim, "metric"), float(param(claim, "margin", 0.0))
    sign = -1.0 if param(claim, "lower_is_better", False) else 1.0
    diffs, means = {}, {}
    for a, b in param(claim, "pairs"):
        va, vb = per_seed(rows, a, metric), per_seed(rows, b, metric)
        means[a], means[b] = _mean(va), _mean(vb)
        diffs[f"{a} vs {b}"] = [sign * (va[s] - vb[s]) for s in sorted(set(va) & set(vb))]
    verdict, intervals, n = paired_verdict(diffs, margin)
    if verdict is None:
        return not_run(f"no seed ran both arms of any pair for {metric}")
    word = "lower" if sign < 0 else "higher"
    shown = "; ".join(
        f"{name}: {iv.mean:+.4f} [{iv.lo:+.4f}, {iv.hi:+.4f}]" for name, iv in intervals.items()
    )
    arms = ", ".join(f"{a} {m:.4f}" for a, m in means.items())
    margin_text = f", passing above −{margin:g}" if margin else ""
    value = f"seed-mean {metric}: {arms}; paired difference ({word} is better{margin_text}): {shown} (n = {n} seeds)"
    detail = {name: iv.as_dict() for name, iv in intervals.items()}
    return Verdict({"value": value, "means": means, "comparisons": detail}, verdict, "")


def rule_mean_at_least(claim: dict, rows: list[dict]) -> Verdict:
    arm, reproduced, partly = param(claim, "arm"), float(param(claim, "reproduced")), param(claim, "partly")
    parts, levels, detail = [], [], {}
    for metric in param(claim, "metrics"):
        values = list(per_seed(rows, arm, metric).values())
        if not values:
            continue
        iv = t_interval(values)
        detail[metric] = iv.as_dict()
        levels.append(
            2 if iv.mean >= reproduced else 1 if partly is not None and iv.mean >= float(partly) else 0
        )
        parts.append(f"{metric} {iv.text('.3f')}")
    if not levels:
        return not_run(f"no run of {arm} reports {', '.join(param(claim, 'metrics'))}")
    verdict = REPRODUCED if min(levels) == 2 else PARTLY if min(levels) == 1 else NOT
    return Verdict({"value": f"{arm}: " + "; ".join(parts), "metrics": detail}, verdict, "")


def arms_in(rows: list[dict], order) -> list[str]:
    """The arms of ``order`` that some row has results for, in that order."""
    present = {r["arm"] for row in rows for r in row.get("results", [])}
    return [a for a in order if a in present]


def arm_stats(rows: list[dict], arm: str, metric: str) -> tuple[float, float, int]:
    """(mean, standard deviation, n) over seeds of ``arm``'s ``metric``; nan and 0 when no seed has it."""
    import numpy as np

    values = list(per_seed(rows, arm, metric).values())
    return (
        (float(np.mean(values)), float(np.std(values)), len(values)) if values else (float("nan"),) * 2 + (0,)
    )
