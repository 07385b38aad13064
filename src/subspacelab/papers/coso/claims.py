"""Derive rules for the CoSO claims. Differences between methods are paired over seeds (the methods of one run
share its stream, backbone and batches): a difference counts as shown only when its 95% t-interval over seeds
excludes 0 in the claimed direction, which needs at least two seeds."""

from __future__ import annotations

from subspacelab.papers.coso.aggregate import per_seed, runs_by_stream, settings
from subspacelab.reporting.stats import Interval, difference_interval, t_interval
from subspacelab.reporting.verdict import (
    NOT,
    PARTLY,
    REPRODUCED,
    Verdict,
    cap_for_one_seed,
    holds,
    ladder,
    not_run,
    param,
)


def _iv(iv: Interval) -> str:
    """A difference with its interval, or 'n=1' when there is none."""
    if iv.n < 2:
        return f"{iv.mean:+.3f} (n=1)"
    return f"{iv.mean:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]"


def paired(a: dict[int, float], b: dict[int, float]) -> Interval:
    """t-interval of a − b over the seeds both arms have."""
    seeds = sorted(set(a) & set(b))
    return t_interval([a[s] - b[s] for s in seeds])


def shown(iv: Interval, better_if_positive: bool = True) -> bool:
    """The interval excludes 0 on the claimed side (n >= 2)."""
    return iv.n >= 2 and (iv.lo > 0 if better_if_positive else iv.hi < 0)


def rule_compare(claim: dict, rows: list[dict]) -> Verdict:
    """CoSO vs each baseline per (stream, protocol), paired over seeds. ``higher``: CoSO better = higher ``metric``
    (accuracy), else lower (forgetting). reproduced: better than every baseline in every setting with every paired
    interval excluding 0; partly: better by the seed mean than all but at most one baseline in every setting, or
    than every baseline in some setting; not reproduced: otherwise."""
    metric, higher, baselines = (
        param(claim, "metric"),
        param(claim, "higher", True),
        list(param(claim, "baselines")),
    )
    comparisons: dict[str, dict[str, Interval]] = {}
    parts = []
    for stream, p, runs in settings(rows, param(claim, "protocols")):
        vals = per_seed(runs, p, metric)
        if "coso" not in vals or not all(b in vals for b in baselines):
            continue
        ivs = {b: paired(vals["coso"], vals[b]) for b in baselines}
        comparisons[f"{stream}/{p}"] = ivs
        n = min(iv.n for iv in ivs.values())
        mean_coso = sum(vals["coso"].values()) / len(vals["coso"])
        parts.append(
            f"{stream}/{p} (n={n}): CoSO {mean_coso:.3f}; CoSO − "
            + ", ".join(f"{b} {_iv(iv)}" for b, iv in ivs.items())
        )
    if not comparisons:
        return not_run("no setting has CoSO and every baseline")
    better = {
        s: {b: (iv.mean > 0) == higher and iv.mean != 0 for b, iv in ivs.items()}
        for s, ivs in comparisons.items()
    }
    confirmed = {s: {b: shown(iv, higher) for b, iv in ivs.items()} for s, ivs in comparisons.items()}
    n_lost = [sum(not w for w in ws.values()) for ws in better.values()]
    n_all = sum(len(ws) for ws in better.values())
    n_better = sum(sum(ws.values()) for ws in better.values())
    n_shown = sum(sum(ws.values()) for ws in confirmed.values())
    if n_shown == n_all:
        verdict = REPRODUCED
    else:
        verdict = PARTLY if max(n_lost) <= 1 or min(n_lost) == 0 else NOT
    n_min = min(iv.n for ivs in comparisons.values() for iv in ivs.values())
    verdict = cap_for_one_seed(verdict, n_min)
    summary = (
        f"CoSO better by the seed mean in {n_better} of {n_all} comparisons, with the paired 95% interval "
        f"excluding 0 in {n_shown}"
    )
    value = "; ".join(parts) + f" ({metric}, seed means and paired 95% t-intervals) — {summary}"
    measured = {
        "value": value,
        "better": better,
        "confirmed": confirmed,
        "intervals": {s: {b: iv.as_dict() for b, iv in ivs.items()} for s, ivs in comparisons.items()},
    }
    return Verdict(measured, verdict, f"{sum(len(r) for r in runs_by_stream(rows).values())} runs")


def rule_gap_grows(claim: dict, rows: list[dict]) -> Verdict:
    """gap = CoSO − the best baseline (by seed mean) in final average accuracy, per seed, on the short and the long
    stream. reproduced: gap(long) − gap(short) has a Welch 95% interval above 0 and gap(long)'s t-interval is above
    0; partly: gap(long) > gap(short) by the seed means only; not reproduced: otherwise."""
    by = runs_by_stream(rows)
    protocol, baselines = param(claim, "protocol"), list(param(claim, "baselines"))
    gaps: dict[str, tuple[list[float], str]] = {}
    for s in (param(claim, "short"), param(claim, "long")):
        if s not in by:
            return not_run(f"stream {s} was not run")
        vals = per_seed(by[s], protocol, "final_acc")
        present = [b for b in baselines if b in vals]
        if "coso" not in vals or not present:
            return not_run(f"{s}: CoSO or the baselines were not run")
        best = max(present, key=lambda b: sum(vals[b].values()) / len(vals[b]))
        seeds = sorted(set(vals["coso"]) & set(vals[best]))
        gaps[s] = ([vals["coso"][k] - vals[best][k] for k in seeds], best)
    (g_short, b_short), (g_long, b_long) = gaps[param(claim, "short")], gaps[param(claim, "long")]
    growth = difference_interval(g_long, g_short)
    lead = t_interval(g_long)
    if shown(growth) and shown(lead):
        verdict = REPRODUCED
    else:
        verdict = holds(False, partial=growth.mean > 0)
    verdict = cap_for_one_seed(verdict, min(len(g_long), len(g_short)))
    value = (
        f"{param(claim, 'short')}: CoSO − {b_short} = {_iv(t_interval(g_short))}; "
        f"{param(claim, 'long')}: CoSO − {b_long} = {_iv(lead)}; growth {_iv(growth)} "
        f"(n={len(g_short)} and {len(g_long)} seeds, Welch)"
    )
    measured = {
        "value": value,
        "gaps": {s: sum(g) / len(g) for s, (g, _) in gaps.items()},
        "growth": growth.as_dict(),
    }
    return Verdict(measured, verdict, f"{protocol}-incremental final accuracy")


def rule_orthogonal(claim: dict, rows: list[dict]) -> Verdict:
    """max over runs and tasks t ≥ 1 of ‖M_tᵀ ΔW_t‖_F / ‖ΔW_t‖_F for CoSO. reproduced: ≤ tol; partly: ≤ 100·tol."""
    method, tol = param(claim, "method", "coso"), float(param(claim, "tol"))
    leaks = [v for r in rows for v in ((r.get("results") or {}).get(method) or {}).get("history_leak", [])]
    if not leaks:
        return not_run("no CoSO run with a non-empty history")
    mx = max(leaks)
    return Verdict(
        {"value": f"max {mx:.2e} over {len(leaks)} task updates", "max": mx},
        ladder(mx, tol, 100 * tol, higher_is_better=False),
        "float32",
    )


def rule_joint_bound(claim: dict, rows: list[dict]) -> Verdict:
    """joint ≥ every sequential method per setting (seed means of final accuracy). reproduced: in every setting;
    partly: joint ≥ CoSO in every setting; not reproduced: otherwise."""
    full, vs_coso, parts = [], [], []
    for stream, p, runs in settings(rows, param(claim, "protocols")):
        vals = per_seed(runs, p, "final_acc")
        if "joint" not in vals or "coso" not in vals:
            continue
        mm = {m: sum(v.values()) / len(v) for m, v in vals.items()}
        others = [m for m in mm if m != "joint"]
        full.append(all(mm["joint"] >= mm[m] for m in others))
        vs_coso.append(mm["joint"] >= mm["coso"])
        parts.append(
            f"{stream}/{p} (n={len(vals['joint'])}): joint {mm['joint']:.3f}, "
            f"best sequential {max(mm[m] for m in others):.3f}"
        )
    if not full:
        return not_run("joint or CoSO was not run")
    return Verdict(
        {"value": "; ".join(parts)},
        holds(all(full), partial=all(vs_coso)),
        "harness sanity check (seed means), not a claim of the paper",
    )


def rule_not_implemented(claim: dict, rows: list[dict]) -> Verdict:
    return not_run("not implemented: " + param(claim, "reason", "the paper's setting"))


RULES = {
    "coso_compare": rule_compare,
    "coso_gap_grows": rule_gap_grows,
    "coso_orthogonal": rule_orthogonal,
    "coso_joint_bound": rule_joint_bound,
    "coso_paper_table": rule_not_implemented,
}
