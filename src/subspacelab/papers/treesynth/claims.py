"""Derive rules for treesynth: paired per-seed differences between data-synthesis methods at given sizes, the
gain from more data, and the biased model's head/tail gap."""

from __future__ import annotations

import numpy as np

from subspacelab.reporting.stats import t_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, cap_for_one_seed, not_run, param


def runs_of(rows: list[dict], method: str, size: int) -> dict[int, dict]:
    """The runs of one method at one dataset size, by seed."""
    return {
        int(r.get("seed", 0)): r
        for r in rows
        if r.get("method") == method and int(r.get("n_samples", -1)) == int(size)
    }


def paired(rows: list[dict], a: tuple[str, int], b: tuple[str, int], metric: str) -> list[float]:
    """metric(a) − metric(b) for every seed both (method, size) pairs ran, in seed order."""
    ra, rb = runs_of(rows, *a), runs_of(rows, *b)
    return [float(ra[s][metric]) - float(rb[s][metric]) for s in sorted(set(ra) & set(rb))]


def rule_paired_difference(claim: dict, rows: list[dict]) -> Verdict:
    """For every size and every other method: the 95% paired t-interval of better − other (other − better when
    ``lower_is_better``) lies above 0. Reproduced if all comparisons do; partly if at least one does."""
    metric, better = param(claim, "metric"), param(claim, "better")
    others, sizes = list(param(claim, "others")), [int(n) for n in param(claim, "sizes")]
    sign = -1.0 if param(claim, "lower_is_better", False) else 1.0
    parts, passed, detail, n_min = [], [], {}, None
    for size in sizes:
        for other in others:
            diffs = [sign * d for d in paired(rows, (better, size), (other, size), metric)]
            if not diffs:
                continue
            iv = t_interval(diffs)
            ok = len(diffs) >= 2 and iv.lo > 0
            passed.append(ok)
            n_min = len(diffs) if n_min is None else min(n_min, len(diffs))
            detail[f"{other}@{size}"] = {"per_seed": diffs, **iv.as_dict()}
            parts.append(f"vs {other} at n={size}: {iv.mean:+.4f} [{iv.lo:+.4f}, {iv.hi:+.4f}]")
    if not passed:
        return not_run(f"no seed with both {better} and {' / '.join(others)} runs at sizes {sizes}")
    verdict = (
        REPRODUCED
        if all(passed) and len(passed) == len(sizes) * len(others)
        else PARTLY
        if any(passed)
        else NOT
    )
    direction = "lower" if sign < 0 else "higher"
    value = f"{better} {direction} {metric}: " + "; ".join(parts) + f" (n = {n_min} seeds)"
    return Verdict({"value": value, "comparisons": detail}, cap_for_one_seed(verdict, n_min or 0), "")


def rule_scaling(claim: dict, rows: list[dict]) -> Verdict:
    """metric at the large size − at the small size, paired per seed: interval above 0 reproduced, mean partly."""
    metric, method = param(claim, "metric"), param(claim, "method")
    small, large = int(param(claim, "small")), int(param(claim, "large"))
    diffs = paired(rows, (method, large), (method, small), metric)
    if not diffs:
        return not_run(f"no seed of {method} at both n = {small} and n = {large}")
    iv = t_interval(diffs)
    verdict = REPRODUCED if len(diffs) >= 2 and iv.lo > 0 else PARTLY if iv.mean > 0 else NOT
    means = {
        n: float(np.mean([r[metric] for r in runs_of(rows, method, n).values()])) for n in (small, large)
    }
    value = f"{means[small]:.3f} at n={small} -> {means[large]:.3f} at n={large}; gain {iv.text('+.4f')} (n = {len(diffs)} seeds)"
    return Verdict({"value": value, **iv.as_dict()}, cap_for_one_seed(verdict, len(diffs)), "")


def rule_head_tail(claim: dict, rows: list[dict]) -> Verdict:
    """head − tail accuracy of one method at one size over seeds: interval above 0 reproduced, mean partly."""
    method, size = param(claim, "method"), int(param(claim, "size"))
    runs = list(runs_of(rows, method, size).values())
    if not runs:
        return not_run(f"no {method} runs at n = {size}")
    gaps = [float(r["head_accuracy"]) - float(r["tail_accuracy"]) for r in runs]
    iv = t_interval(gaps)
    verdict = REPRODUCED if len(gaps) >= 2 and iv.lo > 0 else PARTLY if iv.mean > 0 else NOT
    value = f"head − tail accuracy {iv.text('+.3f')} (n = {len(gaps)} seeds)"
    return Verdict({"value": value, **iv.as_dict()}, cap_for_one_seed(verdict, len(gaps)), "")


RULES = {
    "treesynth_paired_difference": rule_paired_difference,
    "treesynth_scaling": rule_scaling,
    "treesynth_head_tail": rule_head_tail,
}
