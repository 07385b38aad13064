"""Derive rules for plato_cave: paired per-seed differences between alignment arms, where along k the subspace arm
peaks, the gain from more anchors, what the canonical subspace and its complement hold, and floors on single
numbers. A run row holds ``results`` (one entry per arm, k and anchor count), ``raw_cka``, ``probes`` and
``pretext``; an arm is named ``arm@k`` (``cca_affine@8``) or plainly (``affine``)."""

from __future__ import annotations

import numpy as np

from subspacelab.reporting.paired import paired_verdict
from subspacelab.reporting.stats import t_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, cap_for_one_seed, not_run, param


def _split(name: str) -> tuple[str, int | None]:
    arm, _, k = str(name).partition("@")
    return arm, int(k) if k else None


def per_seed(rows: list[dict], name: str, metric: str, anchors: int | None = None) -> dict[int, float]:
    """Each seed's ``metric`` of arm ``name`` (``arm@k``) at ``anchors`` (default: the run's own anchor count,
    the one every arm ran at)."""
    arm, k = _split(name)
    out = {}
    for row in rows:
        results = row.get("results", [])
        n = anchors if anchors is not None else _default_anchors(results)
        for r in results:
            if r["arm"] == arm and r.get("k") == k and int(r["anchors"]) == n and metric in r:
                out[int(row.get("seed", 0))] = float(r[metric])
    return out


def _default_anchors(results: list[dict]) -> int | None:
    counts = [int(r["anchors"]) for r in results if r["arm"] == "affine"]
    return counts[0] if counts else None


def paired(rows, a: str, b: str, metric: str, anchors_a=None, anchors_b=None) -> list[float]:
    ra, rb = per_seed(rows, a, metric, anchors_a), per_seed(rows, b, metric, anchors_b)
    return [ra[s] - rb[s] for s in sorted(set(ra) & set(rb))]


def _mean(rows, name, metric, anchors=None) -> float:
    values = list(per_seed(rows, name, metric, anchors).values())
    return float(np.mean(values)) if values else float("nan")


def rule_paired_difference(claim: dict, rows: list[dict]) -> Verdict:
    """For every metric, the 95% paired t-interval over seeds of better − other (``reporting.paired``). All above
    0: reproduced; at least one above 0: partly; else not reproduced."""
    better, other = param(claim, "better"), param(claim, "other")
    parts, differences, detail = [], {}, {}
    for metric in param(claim, "metrics"):
        diffs = paired(rows, better, other, metric)
        if not diffs:
            continue
        differences[metric] = diffs
        iv = t_interval(diffs)
        means = {name: _mean(rows, name, metric) for name in (better, other)}
        detail[metric] = {"per_seed": diffs, "means": means, **iv.as_dict()}
        parts.append(
            f"{metric} {means[better]:.3f} vs {means[other]:.3f}, difference {iv.mean:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]"
        )
    verdict, _, n_min = paired_verdict(differences)
    if verdict is None:
        return not_run(f"no seed ran both {better} and {other}")
    value = f"{better} − {other}: " + "; ".join(parts) + f" (n = {n_min} seeds)"
    return Verdict({"value": value, "comparisons": detail}, verdict, "")


def rule_peak_at_small_k(claim: dict, rows: list[dict]) -> Verdict:
    """The k of ``arm`` with the highest seed-mean ``metric`` is at most ``max_fraction`` of the largest k swept,
    and the paired interval of metric(best k) − metric(largest k) is above 0: reproduced; the first only: partly."""
    arm, metric, fraction = param(claim, "arm"), param(claim, "metric"), float(param(claim, "max_fraction"))
    ks = sorted({r["k"] for row in rows for r in row.get("results", []) if r["arm"] == arm and r.get("k")})
    if len(ks) < 2:
        return not_run(f"no k sweep of {arm}")
    curve = {k: _mean(rows, f"{arm}@{k}", metric) for k in ks}
    best, top = max(curve, key=curve.get), ks[-1]
    small = best <= fraction * top
    diffs = paired(rows, f"{arm}@{best}", f"{arm}@{top}", metric)
    iv = t_interval(diffs)
    beats = len(diffs) >= 2 and iv.lo > 0
    verdict = REPRODUCED if small and beats else PARTLY if small else NOT
    shown = ", ".join(f"k={k}: {v:.3f}" for k, v in curve.items())
    value = (
        f"seed-mean {metric} of {arm}: {shown}; best k = {best} of {top}; best − k={top}: {iv.text('+.3f')} "
        f"(n = {len(diffs)} seeds)"
    )
    return Verdict(
        {"value": value, "curve": curve, "best_k": best, **iv.as_dict()},
        cap_for_one_seed(verdict, len(diffs)),
        "",
    )


def rule_anchor_gain(claim: dict, rows: list[dict]) -> Verdict:
    """``metric`` of ``arm`` with the most anchors swept − with the fewest, paired over seeds: interval above 0
    reproduced; mean above 0 partly."""
    name, metric = param(claim, "arm"), param(claim, "metric")
    arm, k = _split(name)
    counts = sorted(
        {
            int(r["anchors"])
            for row in rows
            for r in row.get("results", [])
            if r["arm"] == arm and r.get("k") == k
        }
    )
    if len(counts) < 2:
        return not_run(f"no anchor sweep of {name}")
    diffs = paired(rows, name, name, metric, counts[-1], counts[0])
    iv = t_interval(diffs)
    verdict = REPRODUCED if len(diffs) >= 2 and iv.lo > 0 else PARTLY if iv.mean > 0 else NOT
    curve = {n: _mean(rows, name, metric, n) for n in counts}
    shown = ", ".join(f"{n}: {v:.3f}" for n, v in curve.items())
    value = f"seed-mean {metric} of {name} by anchors: {shown}; most − fewest {iv.text('+.3f')} (n = {len(diffs)} seeds)"
    return Verdict(
        {"value": value, "curve": curve, **iv.as_dict()}, cap_for_one_seed(verdict, len(diffs)), ""
    )


def rule_probe_split(claim: dict, rows: list[dict]) -> Verdict:
    """The class probe scores higher on the canonical subspace than on its complement, and the scale probe higher
    on the complement than on the subspace (paired over seeds, 95% intervals above 0): both reproduced; one
    partly; neither not reproduced."""
    pairs = {
        "class_accuracy": ("subspace", "complement"),
        "scale_r2": ("complement", "subspace"),
    }
    held, parts, detail = [], [], {}
    for metric, (hi, lo) in pairs.items():
        diffs = [r["probes"][hi][metric] - r["probes"][lo][metric] for r in rows if r.get("probes")]
        if not diffs:
            return not_run("no run probed the subspaces")
        iv = t_interval(diffs)
        held.append(len(diffs) >= 2 and iv.lo > 0)
        means = {
            p: float(np.mean([r["probes"][p][metric] for r in rows if r.get("probes")]))
            for p in pairs[metric]
        }
        detail[metric] = {"per_seed": diffs, "means": means, **iv.as_dict()}
        parts.append(f"{metric}: {hi} {means[hi]:.3f} vs {lo} {means[lo]:.3f}, difference {iv.text('+.3f')}")
    dims = rows[0]["probes"]
    verdict = REPRODUCED if all(held) else PARTLY if any(held) else NOT
    value = "; ".join(parts) + (
        f" (subspace {dims['subspace']['dim']} dims, complement {dims['complement']['dim']}; n = {len(diffs)} seeds)"
    )
    return Verdict({"value": value, "comparisons": detail}, cap_for_one_seed(verdict, len(diffs)), "")


def rule_mean_below(claim: dict, rows: list[dict]) -> Verdict:
    """The seed mean of the run-level number ``metric`` is below ``limit``: reproduced; else not reproduced."""
    metric, limit = param(claim, "metric"), float(param(claim, "limit"))
    values = [float(r[metric]) for r in rows if r.get(metric) is not None]
    if not values:
        return not_run(f"no run reports {metric}")
    iv = t_interval(values)
    verdict = REPRODUCED if iv.mean < limit else NOT
    return Verdict(
        {"value": f"{metric} {iv.text('.3f')} (n = {len(values)} seeds), limit {limit}", **iv.as_dict()},
        verdict,
        "",
    )


def rule_floors(claim: dict, rows: list[dict]) -> Verdict:
    """Every run's ``pretext`` accuracies reach their floors (``floors``: name -> value): reproduced."""
    floors = {k: float(v) for k, v in param(claim, "floors").items()}
    runs = [r["pretext"] for r in rows if r.get("pretext")]
    if not runs:
        return not_run("no run reports its pretext accuracies")
    lows = {k: min(float(p[k]) for p in runs) for k in floors}
    verdict = REPRODUCED if all(lows[k] >= floors[k] for k in floors) else NOT
    value = (
        "; ".join(f"{k} lowest {lows[k]:.3f} (floor {floors[k]})" for k in floors) + f" ({len(runs)} runs)"
    )
    return Verdict({"value": value, "lowest": lows}, verdict, "")


RULES = {
    "plato_cave_paired_difference": rule_paired_difference,
    "plato_cave_peak_at_small_k": rule_peak_at_small_k,
    "plato_cave_anchor_gain": rule_anchor_gain,
    "plato_cave_probe_split": rule_probe_split,
    "plato_cave_mean_below": rule_mean_below,
    "plato_cave_pretext_floors": rule_floors,
}
