"""Derive rules for koopman_ib: per-system paired differences between objectives over seeds, and the operator's
spectral radius."""

from __future__ import annotations

import numpy as np

from subspacelab.reporting.paired import paired_verdict
from subspacelab.reporting.stats import t_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, not_run, param


def metric_of(row: dict, metric: str) -> float | None:
    """A dotted path into a run's metrics ("rollout_error.50", "spectrum.max_modulus")."""
    value = row
    for key in metric.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


def runs_of(rows: list[dict], system: str, objective: str) -> dict[int, dict]:
    return {
        int(r.get("seed", 0)): r
        for r in rows
        if r.get("system") == system and r.get("objective") == objective
    }


def systems_in(rows: list[dict]) -> list[str]:
    return sorted({r["system"] for r in rows if "system" in r})


def rule_paired_difference(claim: dict, rows: list[dict]) -> Verdict:
    """Per system: the 95% paired t-interval over seeds of better − other (other − better when
    ``lower_is_better``) above 0 (``reporting.paired``). Reproduced on every system, partly on some, else not
    reproduced."""
    metric, better, other = param(claim, "metric"), param(claim, "better"), param(claim, "other")
    sign = -1.0 if param(claim, "lower_is_better", False) else 1.0
    parts, oriented, detail = [], {}, {}
    for system in systems_in(rows):
        a, b = runs_of(rows, system, better), runs_of(rows, system, other)
        seeds = [s for s in sorted(set(a) & set(b)) if metric_of(a[s], metric) is not None]
        if not seeds:
            continue
        diffs = [metric_of(a[s], metric) - metric_of(b[s], metric) for s in seeds]
        oriented[system] = [sign * d for d in diffs]
        iv = t_interval(diffs)
        means = {
            o: float(np.mean([metric_of(r, metric) for r in runs.values()]))
            for o, runs in ((better, a), (other, b))
        }
        detail[system] = {"per_seed": diffs, "means": means, **iv.as_dict()}
        parts.append(
            f"{system}: {means[better]:.3f} vs {means[other]:.3f}, {iv.mean:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]"
        )
    verdict, _, n_min = paired_verdict(oriented)
    if verdict is None:
        return not_run(f"no seed ran both {better} and {other}")
    value = f"{metric}, {better} − {other}: " + "; ".join(parts) + f" (n = {n_min} seeds)"
    return Verdict({"value": value, "systems": detail}, verdict, "")


def rule_stable(claim: dict, rows: list[dict]) -> Verdict:
    """Share of one objective's runs whose pooled operator has spectral radius <= limit: all reproduced, at least
    half partly."""
    objective, limit = param(claim, "objective"), float(param(claim, "limit"))
    radii = [metric_of(r, "spectrum.max_modulus") for r in rows if r.get("objective") == objective]
    radii = [r for r in radii if r is not None]
    if not radii:
        return not_run(f"no {objective} run")
    stable = sum(r <= limit for r in radii)
    verdict = REPRODUCED if stable == len(radii) else PARTLY if 2 * stable >= len(radii) else NOT
    value = f"{stable} of {len(radii)} runs with spectral radius <= {limit} (range {min(radii):.3f} to {max(radii):.3f})"
    return Verdict({"value": value, "radii": radii}, verdict, "")


RULES = {"koopman_paired_difference": rule_paired_difference, "koopman_stable": rule_stable}
