"""Derive rules for mmcr: paired per-seed comparisons between arms of one metric (``reporting.paired``). A run
row holds ``results``: one entry per arm with ``probe``, ``knn`` and ``geometry`` (a dict of measures), so a
metric is a dotted path (``probe``, ``geometry.radius``)."""

from __future__ import annotations

from subspacelab.reporting.paired import paired_verdict
from subspacelab.reporting.verdict import Verdict, not_run, param


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


def rule_paired(claim: dict, rows: list[dict]) -> Verdict:
    """For every [a, b] of ``derive.pairs``: the paired t-interval over seeds of metric(a) − metric(b) (b − a with
    ``lower_is_better``) passes when its lower end is above −``margin`` (default 0)."""
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


def _mean(values: dict[int, float]) -> float:
    return sum(values.values()) / len(values) if values else float("nan")


RULES = {"mmcr_paired": rule_paired}
