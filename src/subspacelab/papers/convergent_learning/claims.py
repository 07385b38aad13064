"""Derive rules: trained pairs against the untrained control, deeper layers against the first, groups of
units against single units, and the fan-in of the sparse mapping. Differences come with t-intervals over
the pairs of nets (stats.difference_interval; n stated)."""

from __future__ import annotations

import math
import statistics

from subspacelab.reporting.stats import Interval, difference_interval
from subspacelab.reporting.verdict import Verdict, cap_for_one_seed, holds, ladder, not_run, param


def analysis_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") == "analysis"]


def values(rows: list[dict], key: str, **select) -> list[float]:
    return [r[key] for r in rows if all(r.get(k) == v for k, v in select.items()) and not math.isnan(r[key])]


def mean(rows: list[dict], key: str, **select) -> float | None:
    vals = values(rows, key, **select)
    return statistics.fmean(vals) if vals else None


def by_pair(rows: list[dict], key: str, **select) -> dict[str, float]:
    return {r["pair"]: r[key] for r in rows if all(r.get(k) == v for k, v in select.items())}


def _no_analysis() -> Verdict:
    return not_run("no analysis rows (fewer than two trained nets per dataset)")


def _above(iv: Interval) -> bool:
    """The difference is positive beyond noise (its interval excludes 0); with one pair, its sign."""
    return iv.lo > 0 if iv.n >= 2 and not math.isnan(iv.lo) else iv.mean > 0


def _ci(iv: Interval) -> str:
    return f"[{iv.lo:+.3f}, {iv.hi:+.3f}]" if iv.n >= 2 and not math.isnan(iv.lo) else "no interval"


def rule_first_layer(claim: dict, rows: list[dict]) -> Verdict:
    """Reproduced: matched r >= ``min_matched_r`` and above the control by >= ``min_margin_over_control`` with
    the (Welch) interval of trained pairs minus controls excluding 0, on every dataset; partly: that interval
    excludes 0 on every dataset."""
    a, layer = analysis_rows(rows), param(claim, "layer")
    if not a:
        return _no_analysis()
    per, strong, above, parts, n_min = {}, True, True, [], math.inf
    for data in sorted({r["data"] for r in a}):
        t = values(a, "matched_r", data=data, layer=layer, control=False)
        c = values(a, "matched_r", data=data, layer=layer, control=True)
        frac = mean(a, "frac_matched_above_0.9", data=data, layer=layer, control=False)
        iv = difference_interval(t, c)
        m, cm = statistics.fmean(t), statistics.fmean(c)
        per[data] = {"matched_r": m, "control_r": cm, "frac_above_0.9": frac, "difference": iv.as_dict()}
        strong &= (
            m >= param(claim, "min_matched_r")
            and iv.mean >= param(claim, "min_margin_over_control")
            and _above(iv)
        )
        above &= _above(iv)
        n_min = min(n_min, len(t), len(c))
        parts.append(
            f"{data}: r {m:.3f} vs control {cm:.3f}, difference {iv.mean:+.3f} {_ci(iv)} "
            f"(n={len(t)} pairs, {len(c)} controls; {frac:.0%} of units > 0.9)"
        )
    verdict = cap_for_one_seed(holds(strong, above), int(n_min))
    note = "" if above else "the trained pairs' matched r is not above the untrained control beyond noise"
    return Verdict({"value": "; ".join(parts), **per}, verdict, note)


def rule_deeper_less(claim: dict, rows: list[dict]) -> Verdict:
    """Reproduced: for every dataset and deeper layer, the paired interval (over pairs of nets) of the first
    layer's matched r minus the deeper layer's excludes 0; partly: every such mean difference is positive."""
    a = [r for r in analysis_rows(rows) if not r["control"]]
    if not a:
        return _no_analysis()
    first, deeper = param(claim, "first"), list(param(claim, "deeper"))
    strict, on_average, parts, n_min = True, True, [], math.inf
    for data in sorted({r["data"] for r in a}):
        top = by_pair(a, "matched_r", data=data, layer=first)
        means = {first: statistics.fmean(top.values())}
        diffs = []
        for layer in deeper:
            low = by_pair(a, "matched_r", data=data, layer=layer)
            pairs = sorted(set(top) & set(low))
            iv = difference_interval([top[p] for p in pairs], [low[p] for p in pairs], paired=True)
            means[layer] = statistics.fmean(low.values())
            strict &= _above(iv)
            on_average &= iv.mean > 0
            n_min = min(n_min, len(pairs))
            diffs.append(f"{first}-{layer} {iv.mean:+.3f} {_ci(iv)}")
        parts.append(
            f"{data}: "
            + ", ".join(f"{k} {v:.3f}" for k, v in means.items())
            + f" (paired differences {', '.join(diffs)}, n={len(top)} pairs)"
        )
    verdict = cap_for_one_seed(holds(strict, on_average), int(n_min))
    return Verdict({"value": "; ".join(parts)}, verdict, "" if strict else "not beyond noise for every layer")


def rule_shared_subspaces(claim: dict, rows: list[dict]) -> Verdict:
    """Two comparisons per dataset: groups against single units (paired over pairs of nets: group similarity
    minus matched r, mean >= ``min_margin`` and interval excluding 0) and trained groups against the
    control's (Welch interval excluding 0). Reproduced: both on every dataset; partly: one of them."""
    a, layer = analysis_rows(rows), param(claim, "layer")
    if not a:
        return _no_analysis()
    both, one, parts, n_min = True, True, [], math.inf
    for data in sorted({r["data"] for r in a}):
        sel = {"data": data, "layer": layer, "control": False}
        g, r = by_pair(a, "group_similarity", **sel), by_pair(a, "matched_r", **sel)
        pairs = sorted(set(g) & set(r))
        units = difference_interval([g[p] for p in pairs], [r[p] for p in pairs], paired=True)
        gc = values(a, "group_similarity", data=data, layer=layer, control=True)
        control = difference_interval(list(g.values()), gc)
        over_units = units.mean >= param(claim, "min_margin") and _above(units)
        over_control = _above(control)
        both &= over_units and over_control
        one &= over_units or over_control
        n_min = min(n_min, len(pairs), len(gc))
        parts.append(
            f"{data} {layer}: groups {statistics.fmean(g.values()):.3f} vs matched units "
            f"{statistics.fmean(r.values()):.3f} (paired {units.mean:+.3f} {_ci(units)}), control groups "
            f"{statistics.fmean(gc):.3f} (difference {control.mean:+.3f} {_ci(control)}); "
            f"n={len(pairs)} pairs, {len(gc)} controls"
        )
    verdict = cap_for_one_seed(holds(both, one), int(n_min))
    return Verdict({"value": "; ".join(parts)}, verdict, "")


def rule_sparse_mapping(claim: dict, rows: list[dict]) -> Verdict:
    """On the pair-averaged R^2/fan-in curve: the smallest mean fan-in whose R^2 is within ``max_r2_drop`` of
    the densest alpha's; reproduced when it is <= ``max_fan_in`` on every dataset, partly when <= twice that."""
    a, layer = analysis_rows(rows), param(claim, "layer")
    if not a:
        return _no_analysis()
    drop, limit = float(param(claim, "max_r2_drop")), float(param(claim, "max_fan_in"))
    best_fan_in, parts = {}, []
    for data in sorted({r["data"] for r in a}):
        fits = [r["sparse"] for r in a if r["data"] == data and r["layer"] == layer and not r["control"]]
        alphas = sorted({f["alpha"] for fit in fits for f in fit})
        curve = {
            al: (
                statistics.fmean(f["r2"] for fit in fits for f in fit if f["alpha"] == al),
                statistics.fmean(f["mean_fan_in"] for fit in fits for f in fit if f["alpha"] == al),
            )
            for al in alphas
        }
        dense_r2 = curve[min(alphas)][0]
        ok = [fan for r2, fan in curve.values() if r2 >= dense_r2 - drop]
        best_fan_in[data] = min(ok)
        parts.append(
            f"{data}: R2 {dense_r2:.3f} at fan-in {curve[min(alphas)][1]:.1f}; within "
            f"{drop} of it at fan-in {min(ok):.1f} (mean of {len(fits)} pairs)"
        )
    verdict = ladder(max(best_fan_in.values()), limit, 2 * limit, higher_is_better=False)
    return Verdict({"value": "; ".join(parts), "best_fan_in": best_fan_in}, verdict, "")


RULES = {
    "cl_first_layer": rule_first_layer,
    "cl_deeper_less": rule_deeper_less,
    "cl_shared_subspaces": rule_shared_subspaces,
    "cl_sparse_mapping": rule_sparse_mapping,
}
