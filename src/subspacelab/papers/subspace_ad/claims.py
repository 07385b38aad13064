"""Derive rules for subspace_ad: paired per-seed differences of category-averaged AUROCs between arms, the gain
from more shots, an equivalence margin, and the memory ratio."""

from __future__ import annotations

import numpy as np

from subspacelab.reporting.stats import t_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, cap_for_one_seed, not_run, param


def per_seed(rows: list[dict], arm: str, shots: int, metric: str) -> dict[int, float]:
    """Each seed's mean of ``metric`` over the categories ``arm`` ran at ``shots``."""
    out = {}
    for row in rows:
        values = [
            float(r[metric])
            for r in row.get("results", [])
            if r["arm"] == arm and int(r["shots"]) == int(shots)
        ]
        if values:
            out[int(row.get("seed", 0))] = float(np.mean(values))
    return out


def paired(rows: list[dict], a: tuple[str, int], b: tuple[str, int], metric: str) -> list[float]:
    """metric(a) − metric(b), seed by seed, for the seeds both ran."""
    ra, rb = per_seed(rows, *a, metric), per_seed(rows, *b, metric)
    return [ra[s] - rb[s] for s in sorted(set(ra) & set(rb))]


def rule_paired_difference(claim: dict, rows: list[dict]) -> Verdict:
    """At every shot count: the 95% paired t-interval of better − other. All above 0: reproduced; at least one
    above 0, or none below 0 (the arms match within the seeds' noise): partly; else not reproduced."""
    metric, better, other = param(claim, "metric"), param(claim, "better"), param(claim, "other")
    parts, above, below, detail, n_min = [], [], [], {}, None
    for k in [int(s) for s in param(claim, "shots")]:
        diffs = paired(rows, (better, k), (other, k), metric)
        if not diffs:
            continue
        iv = t_interval(diffs)
        above.append(len(diffs) >= 2 and iv.lo > 0)
        below.append(len(diffs) >= 2 and iv.hi < 0)
        n_min = len(diffs) if n_min is None else min(n_min, len(diffs))
        means = {
            arm: float(np.mean(list(per_seed(rows, arm, k, metric).values()))) for arm in (better, other)
        }
        detail[f"{k}-shot"] = {"per_seed": diffs, "means": means, **iv.as_dict()}
        parts.append(
            f"{k}-shot {means[better]:.3f} vs {means[other]:.3f}, difference {iv.mean:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]"
        )
    if not above:
        return not_run(f"no seed ran both {better} and {other} at shots {param(claim, 'shots')}")
    if all(above):
        verdict = REPRODUCED
    elif any(above) or not any(below):
        verdict = PARTLY
    else:
        verdict = NOT
    value = f"{metric} {better} − {other}: " + "; ".join(parts) + f" (n = {n_min} seeds)"
    return Verdict({"value": value, "comparisons": detail}, cap_for_one_seed(verdict, n_min or 0), "")


def rule_shot_gain(claim: dict, rows: list[dict]) -> Verdict:
    """metric at ``high`` shots − at ``low`` shots for one arm, paired per seed: interval above 0 reproduced, mean
    above 0 partly."""
    metric, arm, low, high = (
        param(claim, "metric"),
        param(claim, "arm"),
        int(param(claim, "low")),
        int(param(claim, "high")),
    )
    diffs = paired(rows, (arm, high), (arm, low), metric)
    if not diffs:
        return not_run(f"no seed of {arm} at both {low} and {high} shots")
    iv = t_interval(diffs)
    verdict = REPRODUCED if len(diffs) >= 2 and iv.lo > 0 else PARTLY if iv.mean > 0 else NOT
    means = {k: float(np.mean(list(per_seed(rows, arm, k, metric).values()))) for k in (low, high)}
    value = f"{means[low]:.3f} at {low} shot -> {means[high]:.3f} at {high} shots; gain {iv.text('+.3f')} (n = {len(diffs)} seeds)"
    return Verdict({"value": value, **iv.as_dict()}, cap_for_one_seed(verdict, len(diffs)), "")


def rule_equivalence(claim: dict, rows: list[dict]) -> Verdict:
    """The 95% paired t-interval of arm − other inside [−margin, margin]: reproduced; its mean inside: partly."""
    metric, arm, other = param(claim, "metric"), param(claim, "arm"), param(claim, "other")
    k, margin = int(param(claim, "shots")), float(param(claim, "margin"))
    diffs = paired(rows, (arm, k), (other, k), metric)
    if not diffs:
        return not_run(f"no seed ran both {arm} and {other} at {k} shots")
    iv = t_interval(diffs)
    inside = len(diffs) >= 2 and -margin <= iv.lo and iv.hi <= margin
    verdict = REPRODUCED if inside else PARTLY if abs(iv.mean) <= margin else NOT
    value = (
        f"{arm} − {other} {metric} at {k} shot: {iv.text('+.3f')}, margin ±{margin} (n = {len(diffs)} seeds)"
    )
    return Verdict({"value": value, **iv.as_dict()}, cap_for_one_seed(verdict, len(diffs)), "")


def rule_memory_ratio(claim: dict, rows: list[dict]) -> Verdict:
    """other's stored floats / arm's, for every (run, category) at ``shots``: the smallest ratio reaches
    ``at_least``: reproduced."""
    arm, other, k, at_least = (
        param(claim, "arm"),
        param(claim, "other"),
        int(param(claim, "shots")),
        float(param(claim, "at_least")),
    )
    ratios = []
    for row in rows:
        stored = {
            (r["arm"], r["category"]): r["stored_floats"]
            for r in row.get("results", [])
            if int(r["shots"]) == k
        }
        ratios += [
            stored[(other, c)] / stored[(arm, c)] for (a, c) in stored if a == arm and (other, c) in stored
        ]
    if not ratios:
        return not_run(f"no run stored both {arm} and {other} at {k} shot")
    low = float(min(ratios))
    verdict = REPRODUCED if low >= at_least else NOT
    value = f"{other} stores {low:.0f}x to {max(ratios):.0f}x the floats of {arm} at {k} shot ({len(ratios)} fits)"
    return Verdict({"value": value, "min_ratio": low, "max_ratio": float(max(ratios))}, verdict, "")


RULES = {
    "subspace_ad_paired_difference": rule_paired_difference,
    "subspace_ad_shot_gain": rule_shot_gain,
    "subspace_ad_equivalence": rule_equivalence,
    "subspace_ad_memory_ratio": rule_memory_ratio,
}
