"""Derive rules of the molrg_diffusion claims: agreement of the low-rank DAE with PCA / K-subspaces, the
phase transition of subspace recovery at N ≈ d_k and its scaling with d_k, the MLP's later transition, and
the rank of a trained denoiser's Jacobian. Success rates are pooled over seeds (aggregate.curves)."""

from __future__ import annotations

import math
import statistics

from subspacelab.papers.molrg_diffusion.aggregate import LABELS, curves, fmt, n50, runs, seed_n50, selected_ds
from subspacelab.reporting.stats import loglog_slope, t_interval
from subspacelab.reporting.verdict import (
    NOT,
    NOT_RUN,
    PARTLY,
    REPRODUCED,
    Verdict,
    cap_for_one_seed,
    holds,
    ladder,
    not_run,
    param,
)


def rule_agreement(claim: dict, rows: list[dict]) -> Verdict:
    """Distance between the trained low-rank DAE's subspaces and K-subspaces' on the same samples
    (subspace_error, min over permutations), over every cell of K = ``K`` runs with N >= min_ratio·d.
    reproduced: at least ``reproduced_frac`` of the cells agree within ``tol``; partly: at least
    ``partly_frac``; else not reproduced."""
    K, tol, lo = int(param(claim, "K")), float(param(claim, "tol")), float(param(claim, "min_ratio", 1.0))
    vals = [
        p["lowrank_vs_ksubspaces"]
        for r in runs(rows, K=K, model="lowrank")
        for p in r["points"]
        if p["N"] >= lo * r["d"] and "lowrank_vs_ksubspaces" in p
    ]
    if not vals:
        return not_run(f"no K={K} cells with N >= {lo:g}·d")
    frac = sum(v <= tol for v in vals) / len(vals)
    measured = {
        "value": f"{frac:.0%} of {len(vals)} cells within {tol:g} (median {statistics.median(vals):.3g})",
        "frac_agree": frac,
        "median": statistics.median(vals),
        "max": max(vals),
        "n": len(vals),
    }
    verdict = ladder(frac, float(param(claim, "reproduced_frac")), float(param(claim, "partly_frac")))
    return Verdict(
        measured, verdict, "distance in [0, 1] (RMS sine of the principal angles, mean over subspaces)"
    )


def rule_transition(claim: dict, rows: list[dict]) -> Verdict:
    """For every d of the K = ``K`` runs (the d in ``ds[scale]`` when given): success rate (pooled over
    seeds) below N = d (mean over N < d), at the top of the grid (mean over N >= high_ratio·d) and the 50%
    crossing N50 (log-linear interpolation). reproduced: every d has low <= low_max, high >= high_min and
    N50/d in ``ratio_range``; partly: every d shows the jump with N50/d in ``partly_range``, or some d fully
    qualify; else not reproduced."""
    dv = claim["derive"]
    model, metric, K = param(claim, "model"), param(claim, "metric", "param"), int(param(claim, "K", 2))
    cs = curves(rows, model, metric, K, selected_ds(dv, rows))
    if not cs:
        return not_run(f"no K={K} runs of {model}")
    low_max, high_min, high_ratio = (
        float(dv["low_max"]),
        float(dv["high_min"]),
        float(dv.get("high_ratio", 2.0)),
    )
    per_d, full, loose = {}, [], []
    for d, c in cs.items():
        below = [p["rate"] for p in c if p["x"] < d]
        above = [p["rate"] for p in c if p["x"] >= high_ratio * d]
        low = statistics.fmean(below) if below else None
        high = statistics.fmean(above) if above else None
        t = n50(c)
        ratio = None if t is None else t / d
        per_d[d] = {
            "low": low,
            "high": high,
            "n50": t,
            "n50_over_d": ratio,
            "n_seeds": max(p["trials"] for p in c),
        }
        jumped = low is not None and high is not None and low <= low_max and high >= high_min
        full.append(jumped and ratio is not None and dv["ratio_range"][0] <= ratio <= dv["ratio_range"][1])
        loose.append(jumped and ratio is not None and dv["partly_range"][0] <= ratio <= dv["partly_range"][1])
    value = "; ".join(
        f"d={d}: {v['low'] if v['low'] is None else round(v['low'], 2)}→"
        f"{v['high'] if v['high'] is None else round(v['high'], 2)}, N50/d="
        f"{'none' if v['n50_over_d'] is None else round(v['n50_over_d'], 2)}"
        for d, v in per_d.items()
    )
    measured = {"value": value, "per_d": {str(k): v for k, v in per_d.items()}}
    return Verdict(
        measured,
        holds(all(full), partial=all(loose) or any(full)),
        f"{LABELS[(model, metric)]}; success = error <= the run's success_threshold",
    )


def rule_linear_scaling(claim: dict, rows: list[dict]) -> Verdict:
    """Log-log slope (stats.loglog_slope) of N50 against d over the d of K = ``K`` runs (``ds[scale]`` when
    given; N50 from the pooled success curve). reproduced: slope in ``slope_range`` and its 95% interval above
    0 (N50 certainly grows with d); partly: slope in ``partly_range``; else not reproduced; not_run with
    fewer than two d having an N50."""
    dv = claim["derive"]
    model, metric, K = param(claim, "model"), param(claim, "metric", "param"), int(param(claim, "K", 2))
    pts = {d: n50(c) for d, c in curves(rows, model, metric, K, selected_ds(dv, rows)).items()}
    have = {d: v for d, v in pts.items() if v is not None}
    if len(have) < 2:
        return not_run("fewer than two d with a 50% crossing", n50=pts)
    s = loglog_slope(list(have), list(have.values()))
    (lo, hi), (plo, phi) = dv["slope_range"], dv["partly_range"]
    verdict = holds(lo <= s.slope <= hi and s.lo > 0, partial=plo <= s.slope <= phi)
    measured = {
        "value": f"slope {s.text()}; N50/d: " + ", ".join(f"d={d}: {v / d:.2f}" for d, v in have.items()),
        "slope": s.slope,
        "slope_interval": s.as_dict(),
        "n50": {str(k): v for k, v in pts.items()},
        "n50_over_d": {str(d): v / d for d, v in have.items()},
    }
    notes = [] if len(have) == len(pts) else [f"d without a crossing: {[d for d in pts if d not in have]}"]
    if lo <= s.slope <= hi and not s.lo > 0:
        notes.append("the slope's 95% interval reaches 0: at most partly")
    return Verdict(measured, verdict, "; ".join(notes))


def rule_later(claim: dict, rows: list[dict]) -> Verdict:
    """N50 of ``model`` by ``metric`` against N50 of ``baseline`` by ``baseline_metric`` on the runs that
    trained ``model`` (every d that has both; pooled curves). Per d: reproduced when N50(model) >= ``factor`` ·
    N50(baseline) and the paired 95% t-interval over seeds of log(N50 model / N50 baseline) (each seed's own
    crossing) lies above 0; partly: later without that, or ``model`` never reaches 50% within the grid (later,
    but the transition is not seen); not reproduced: not later. The worst d decides."""
    model, base, K = param(claim, "model"), param(claim, "baseline"), int(param(claim, "K", 2))
    factor = float(param(claim, "factor"))
    metric, base_metric = param(claim, "metric", "gen"), param(claim, "baseline_metric", "gen")
    mine = [r for r in rows if model in (r.get("experiment") or {}).get("models", [])]
    cm, cb = curves(mine, model, metric, K), curves(mine, base, base_metric, K)
    sm, sb = seed_n50(mine, model, metric, K), seed_n50(mine, base, base_metric, K)
    ds = sorted(set(cm) & set(cb))
    if not ds:
        return not_run(f"no runs with both {model} and {base}")
    per, verdicts = {}, []
    for d in ds:
        a, b = n50(cm[d]), n50(cb[d])
        logs = [
            math.log(sm[d][s] / sb[d][s])
            for s in sm.get(d, {})
            if sm[d][s] is not None and sb.get(d, {}).get(s) is not None
        ]
        iv = t_interval(logs) if logs else None
        per[str(d)] = {
            "model_n50": a,
            "baseline_n50": b,
            "model_max_rate": max(p["rate"] for p in cm[d]),
            "grid_max": max(p["x"] for p in cm[d]),
            "seed_log_ratio": iv.as_dict() if iv else None,
        }
        if b is None:
            verdicts.append(NOT_RUN)
        elif a is None:
            verdicts.append(PARTLY)
        else:
            v = REPRODUCED if a >= factor * b else PARTLY if a > b else NOT
            if v == REPRODUCED and not (iv is not None and iv.lo > 0):
                v = PARTLY
            verdicts.append(cap_for_one_seed(v, iv.n if iv else 0))
    value = "; ".join(
        f"d={d}: {fmt(v['model_n50'])} vs {fmt(v['baseline_n50'])}"
        + (
            f" (per-seed ratio {math.exp(v['seed_log_ratio']['mean']):.2f} "
            f"[{math.exp(v['seed_log_ratio']['lo']):.2f}, {math.exp(v['seed_log_ratio']['hi']):.2f}], "
            f"n={v['seed_log_ratio']['n']} seeds, 95% t-interval)"
            if v["seed_log_ratio"] and v["seed_log_ratio"]["n"] >= 2
            else ""
        )
        for d, v in per.items()
    )
    order = [NOT, NOT_RUN, PARTLY, REPRODUCED]
    note = (
        f"N50 of {LABELS[(model, metric)]} vs {LABELS[(base, base_metric)]}; 'none' = no 50% crossing in the "
        "grid (max rate "
        + ", ".join(f"{v['model_max_rate']:.2f} up to N={v['grid_max']:g}" for v in per.values())
        + ")"
    )
    return Verdict({"value": value, "per_d": per}, min(verdicts, key=order.index), note)


def rule_jacobian_rank(claim: dict, rows: list[dict]) -> Verdict:
    """Numerical rank (99% of ||J||_F, the official jacobian.py rule) of ``model``'s Jacobian at the largest
    N of each K = ``K`` run, median over seeds, points and the noise levels σ of the run's eval_sigmas.
    reproduced: median <= K·d (the rank of the optimal denoiser's Jacobian is at most Σ d_k); partly:
    <= ambient / 2; else not reproduced."""
    model, K = param(claim, "model"), int(param(claim, "K", 2))
    key = f"{model}_jacobian_rank"
    per: dict[int, list[float]] = {}
    per_sigma: dict[int, dict[str, list[float]]] = {}
    ambient = None
    for r in runs(rows, K=K, model=model):
        top = max(r["points"], key=lambda p: p["N"])
        if key not in top:
            continue
        ambient = int(r["ambient"])
        per.setdefault(int(r["d"]), []).extend(top[key].values())
        for s, v in top[key].items():
            per_sigma.setdefault(int(r["d"]), {}).setdefault(s, []).append(v)
    if not per:
        return not_run(f"no K={K} runs of {model}")
    med = {d: statistics.median(v) for d, v in per.items()}
    value = "; ".join(f"d={d}: {m:g} (K·d={K * d}, n={ambient})" for d, m in med.items())
    measured = {
        "value": value,
        "median": {str(d): m for d, m in med.items()},
        "per_sigma": {
            str(d): {s: statistics.median(v) for s, v in ps.items()} for d, ps in per_sigma.items()
        },
    }
    verdict = holds(
        all(m <= K * d for d, m in med.items()), partial=all(m <= ambient / 2 for m in med.values())
    )
    return Verdict(measured, verdict, "per-σ medians in measured.per_sigma")


RULES = {
    "molrg_agreement": rule_agreement,
    "molrg_transition": rule_transition,
    "molrg_linear_scaling": rule_linear_scaling,
    "molrg_later": rule_later,
    "molrg_jacobian_rank": rule_jacobian_rank,
}
