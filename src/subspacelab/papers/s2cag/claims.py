"""Derive rules for the S2CAG claims: quality against the baselines run on the same graph (paired over seeds),
the paper's table (not read), log-log time slopes with their interval, and the SNEM-vs-k-means ablation."""

from __future__ import annotations

import math

from subspacelab.papers.s2cag.results import LABELS, METRICS, OURS, per_seed, quality_means, scaling_points
from subspacelab.reporting.stats import difference_interval, loglog_slope, t_interval
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


def _iv(iv) -> str:
    if math.isnan(iv.lo):
        return f"{iv.mean:+.3f} (no interval)"
    return f"{iv.mean:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]"


def _paired(a: dict[int, float], b: dict[int, float]):
    """Interval of mean(a − b) over the seeds both arms ran."""
    seeds = sorted(set(a) & set(b))
    return difference_interval([a[s] for s in seeds], [b[s] for s in seeds], paired=True)


def rule_beats_baselines(claim: dict, rows: list[dict]) -> Verdict:
    """Each target method against every baseline run on the same dataset, per metric (ACC, NMI, ARI), on the
    paired per-seed differences. A target *wins* a metric when the 95% t-interval of its difference to every
    baseline lies above 0. reproduced: every target wins all three metrics; partly: some target's seed mean is
    >= the best baseline's in >= 2 metrics (or every target wins on the means but not beyond the seed
    interval); else not. One seed: at most partly."""
    dataset, methods = param(claim, "dataset"), list(param(claim, "methods"))
    means = quality_means(rows, dataset)
    targets = [m for m in methods if m in means and "refused" not in means[m]]
    base = {m: v for m, v in means.items() if m not in OURS and "refused" not in v}
    if not targets or not base:
        return not_run(f"no runs of {methods} and of a baseline on {dataset}")
    seeds = {k: per_seed(rows, dataset, k) for k in METRICS}
    best = {k: max(base, key=lambda m, k=k: base[m][k][0]) for k in METRICS}
    wins_mean = {t: {k: means[t][k][0] >= base[best[k]][k][0] for k in METRICS} for t in targets}
    intervals = {
        t: {k: {b: _paired(seeds[k][t], seeds[k][b]) for b in base} for k in METRICS} for t in targets
    }
    wins = {t: {k: all(iv.lo > 0 for iv in intervals[t][k].values()) for k in METRICS} for t in targets}
    n = min(means[t]["acc"][2] for t in targets)
    parts = []
    for t in targets:
        diffs = ", ".join(f"{k.upper()} {_iv(intervals[t][k][best[k]])}" for k in METRICS)
        parts.append(
            f"{LABELS.get(t, t)} "
            + "/".join(f"{means[t][k][0]:.3f}" for k in METRICS)
            + f" (minus best baseline: {diffs})"
        )
    text = (
        "; ".join(parts)
        + " vs best baseline "
        + "/".join(f"{base[best[k]][k][0]:.3f} ({LABELS.get(best[k], best[k])})" for k in METRICS)
    )
    text += f" (ACC/NMI/ARI, seed means, n={n} seeds, paired 95% t-intervals)"
    compared = {**base, **{t: means[t] for t in targets}}
    measured = {
        "value": text,
        "means": {m: {k: v[k][0] for k in METRICS} for m, v in compared.items()},
        "best_baseline": best,
        "wins_on_means": wins_mean,
        "wins_beyond_seed_interval": wins,
        "differences_to_best": {t: {k: intervals[t][k][best[k]].as_dict() for k in METRICS} for t in targets},
        "n_seeds": {m: means[m]["acc"][2] for m in targets},
    }
    missing = [m for m in methods if m not in targets]
    if all(all(w.values()) for w in wins.values()) and not missing:
        verdict = REPRODUCED
    elif any(sum(w.values()) >= 2 for w in wins_mean.values()):
        verdict = PARTLY
    else:
        verdict = NOT
    verdict = cap_for_one_seed(verdict, n)
    notes = [f"baselines compared: {', '.join(sorted(base))}"]
    behind = [
        f"{LABELS.get(t, t)} {k.upper()}"
        for t in targets
        for k in METRICS
        if wins_mean[t][k] and not wins[t][k]
    ]
    if behind:
        notes.append(f"ahead on the seed means but not beyond the seed interval: {', '.join(behind)}")
    refused = [m for m, v in means.items() if "refused" in v]
    if refused:
        notes.append(f"refused by the memory budget: {', '.join(refused)}")
    if missing:
        notes.append(f"not run: {', '.join(missing)}")
    return Verdict(measured, verdict, "; ".join(notes))


def rule_paper_values(claim: dict, rows: list[dict]) -> Verdict:
    """The paper's table was not read: our seed means are shown beside it, with no verdict."""
    parts = []
    for ds in param(claim, "datasets"):
        means = quality_means(rows, ds)
        for m in param(claim, "methods"):
            if m in means and "refused" not in means[m]:
                parts.append(f"{ds} {LABELS.get(m, m)} " + "/".join(f"{means[m][k][0]:.3f}" for k in METRICS))
    ours = "; ".join(parts) + " (ACC/NMI/ARI, ours)" if parts else None
    return not_run(
        "the paper's per-dataset values were not retrieved, so no comparison is possible", value=ours
    )


def _slope_text(s) -> str:
    return s.text() if s is not None else "n/a"


def rule_linear_time(claim: dict, rows: list[dict]) -> Verdict:
    """Log-log slope of CPU seconds against edges over the sizes >= ``min_nodes`` (pooled over seeds), with its
    95% t-interval. reproduced: the whole interval lies within 1 ± ``tol``; partly: the interval overlaps
    [1 − tol, ``partly_max``]; else not. Without an interval (< 3 points): the point estimate, at most partly."""
    method, min_nodes = param(claim, "method"), param(claim, "min_nodes")
    tol, partly_max = float(param(claim, "tol")), float(param(claim, "partly_max"))
    pts = [p for p in scaling_points(rows, method) if p["status"] == "ok" and p["n_nodes"] >= min_nodes]
    sizes = sorted({p["n_nodes"] for p in pts})
    if len(sizes) < 2:
        return not_run(f"fewer than 2 graph sizes >= {min_nodes} nodes")
    edges = [p["n_edges"] for p in pts]
    s = loglog_slope(edges, [p["cpu_seconds"] for p in pts])
    s_wall = loglog_slope(edges, [p["seconds"] for p in pts])
    measured = {
        "value": f"slope {s.text()} over {sizes[0]}-{sizes[-1]} nodes (wall-clock {s_wall.text()})",
        "slope": s.slope,
        "lo": s.lo,
        "hi": s.hi,
        "slope_wall": s_wall.as_dict(),
        "sizes": sizes,
        "n_points": len(pts),
    }
    note = "CPU time of the method itself (graph generation and TF-IDF excluded)"
    if math.isnan(s.lo):
        verdict = PARTLY if abs(s.slope - 1) <= tol else NOT
        return Verdict(measured, verdict, note + "; fewer than 3 points: no interval, at most partly")
    if s.lo >= 1 - tol and s.hi <= 1 + tol:
        verdict = REPRODUCED
    elif s.lo <= partly_max and s.hi >= 1 - tol:
        verdict = PARTLY
    else:
        verdict = NOT
    return Verdict(measured, verdict, note)


def rule_dense_do_not_scale(claim: dict, rows: list[dict]) -> Verdict:
    """Per dense method: the log-log slope of CPU seconds against N where it ran (with its interval), and
    whether the largest size was refused with a message naming N, the bytes and the budget. The slope passes
    when it is >= ``min_slope`` and its 95% interval excludes 1 (superlinear). reproduced: slope and refusal
    for every method; partly: one of the two for every method; else not."""
    methods, min_slope = list(param(claim, "methods")), float(param(claim, "min_slope"))
    per, parts = {}, []
    all_sizes = sorted(
        {
            p["n_nodes"]
            for row in rows
            if row.get("experiment", {}).get("kind") == "scaling"
            for p in row.get("points", [])
        }
    )
    if not all_sizes:
        return not_run("no scaling runs")
    for m in methods:
        pts = scaling_points(rows, m)
        ok = [p for p in pts if p["status"] == "ok"]
        refused = sorted({p["n_nodes"] for p in pts if p["status"] == "refused"})
        msgs_ok = all(
            f"N = {p['n_nodes']}" in p["message"] and "budget" in p["message"] and "bytes" in p["message"]
            for p in pts
            if p["status"] == "refused"
        )
        s = (
            loglog_slope([p["n_nodes"] for p in ok], [p["cpu_seconds"] for p in ok])
            if len({p["n_nodes"] for p in ok}) >= 2
            else None
        )
        slope_ok = s is not None and s.slope >= min_slope and not math.isnan(s.lo) and s.lo > 1
        per[m] = {
            "slope": None if s is None else s.as_dict(),
            "slope_ok": slope_ok,
            "ran": sorted({p["n_nodes"] for p in ok}),
            "refused": refused,
            "message_ok": msgs_ok,
            "example_message": next((p["message"] for p in pts if p["status"] == "refused"), None),
        }
        parts.append(
            f"{LABELS.get(m, m)}: slope {_slope_text(s)}, ran at {per[m]['ran']}, refused at {refused}"
        )
    if not any(v["slope"] is not None for v in per.values()) and not any(v["refused"] for v in per.values()):
        return not_run(f"none of {methods} in the scaling runs", methods=per)
    slope_ok = all(v["slope_ok"] for v in per.values())
    refused_ok = all(all_sizes[-1] in v["refused"] and v["message_ok"] for v in per.values())
    verdict = holds(slope_ok and refused_ok, partial=slope_ok or refused_ok)
    example = next((v["example_message"] for v in per.values() if v["example_message"]), None)
    notes = [] if slope_ok else ["a slope's interval does not exclude linear growth (too few sizes ran)"]
    if example:
        notes.append(f"e.g. '{example}'")
    return Verdict({"value": "; ".join(parts), "methods": per}, verdict, "; ".join(notes))


def rule_rounding_ablation(claim: dict, rows: list[dict]) -> Verdict:
    """(method − ablation) in ACC and NMI over every (dataset, seed) both ran, paired, with its 95% t-interval.
    A metric passes when the interval's lower end is >= −``tol``. reproduced: both pass; partly: at least one
    metric's mean difference is >= −tol; else not. One seed: at most partly."""
    method, ablation, tol = param(claim, "method"), param(claim, "ablation"), float(param(claim, "tol"))
    diffs: dict[str, list[float]] = {"acc": [], "nmi": []}
    per_dataset: dict[str, dict[str, float]] = {}
    for ds in param(claim, "datasets"):
        for k in diffs:
            vals = per_seed(rows, ds, k)
            a, b = vals.get(method, {}), vals.get(ablation, {})
            common = sorted(set(a) & set(b))
            if common:
                d = [a[s] - b[s] for s in common]
                diffs[k] += d
                per_dataset.setdefault(ds, {})[k] = sum(d) / len(d)
    if not diffs["acc"]:
        return not_run(f"no dataset with both {method} and {ablation}")
    iv = {k: t_interval(v) for k, v in diffs.items()}
    n = iv["acc"].n
    measured = {
        "value": f"SNEM − k-means over {', '.join(per_dataset)}: ACC {_iv(iv['acc'])}, NMI {_iv(iv['nmi'])} "
        f"(mean, 95% t-interval over n={n} paired dataset-seed differences)",
        "acc_diff": iv["acc"].mean,
        "nmi_diff": iv["nmi"].mean,
        "intervals": {k: v.as_dict() for k, v in iv.items()},
        "per_dataset": per_dataset,
    }
    passes = [not math.isnan(v.lo) and v.lo >= -tol for v in iv.values()]
    verdict = holds(all(passes), partial=any(v.mean >= -tol for v in iv.values()))
    return Verdict(measured, cap_for_one_seed(verdict, n), "")


RULES = {
    "s2cag_beats_baselines": rule_beats_baselines,
    "s2cag_paper_values": rule_paper_values,
    "s2cag_linear_time": rule_linear_time,
    "s2cag_dense_do_not_scale": rule_dense_do_not_scale,
    "s2cag_rounding_ablation": rule_rounding_ablation,
}
