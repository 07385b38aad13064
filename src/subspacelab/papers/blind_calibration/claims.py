"""Derive rules for the blind-calibration claims: exact recovery above the bound, collapse of the transition in
the paper's units, the same constant with and without priors, and error proportional to noise."""

from __future__ import annotations

import statistics

from subspacelab.experiments.harness import wilson_interval
from subspacelab.papers.blind_calibration.curves import cv, selected, transitions, variant_of
from subspacelab.reporting.stats import loglog_slope
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, factor_apart, ladder, not_run


def _tol(claim: dict) -> dict:
    return claim.get("tolerance") or {}


def rule_collapse(claim: dict, rows: list[dict]) -> Verdict:
    """Spread of the 50%-success point across sizes, in normalised units mp/unknowns vs raw p.
    CV = population sd / mean over sizes. Reproduced if CV(r50) <= tolerance.reproduced_cv and
    CV(r50) <= tolerance.max_cv_fraction * CV(p50); partly if CV(r50) < CV(p50); else not."""
    dv, tol = claim["derive"], _tol(claim)
    tr = transitions(rows, dv.get("variant", "plain"), dv.get("method", "pgd"), dv.get("select"))
    if len(tr) < 2:
        return not_run("needs at least two sizes", sizes=tr)
    missing = [k for k, v in tr.items() if v["p50"] is None]
    if missing:
        return Verdict(
            {"value": f"no 50% crossing for {missing}", "sizes": tr},
            NOT,
            "success never reached 50% for some sizes",
        )
    r50 = [v["r50"] for v in tr.values()]
    p50 = [v["p50"] for v in tr.values()]
    cv_r, cv_p = cv(r50), cv(p50)
    measured = {
        "value": f"CV of 50% point: {cv_r:.2f} in mp/({dv.get('units', 'n+m')}) units vs {cv_p:.2f} in raw p "
        f"(r50 {min(r50):.2f}-{max(r50):.2f}, median {statistics.median(r50):.2f}; {len(tr)} sizes)",
        "cv_ratio_units": cv_r,
        "cv_raw_p": cv_p,
        "r50_median": statistics.median(r50),
        "r50_min": min(r50),
        "r50_max": max(r50),
        "sizes": tr,
    }
    if (
        cv_r <= float(tol.get("reproduced_cv", 0.25))
        and cv_r <= float(tol.get("max_cv_fraction", 0.5)) * cv_p
    ):
        verdict = REPRODUCED
    else:
        verdict = PARTLY if cv_r < cv_p else NOT
    return Verdict(
        measured, verdict, f"50% points interpolated in p over {len(tr)} sizes, trials pooled over seeds"
    )


def rule_same_constant(claim: dict, rows: list[dict]) -> Verdict:
    """Median r50 with priors (units h+k) over median r50 without (units n+m): reproduced if the factor
    max(r, 1/r) <= tolerance.reproduced, partly if <= tolerance.partly."""
    dv, tol = claim["derive"], _tol(claim)
    with_p = transitions(rows, "priors", dv.get("method", "pgd"), dv.get("select"))
    plain = transitions(rows, "plain", dv.get("method", "pgd"), dv.get("select"))
    a = [v["r50"] for v in with_p.values() if v["r50"] is not None]
    b = [v["r50"] for v in plain.values() if v["r50"] is not None]
    if not a or not b:
        return not_run("needs both plain and priors runs with a 50% crossing")
    ra, rb = statistics.median(a), statistics.median(b)
    f = factor_apart(ra, rb)
    verdict = ladder(
        f, float(tol.get("reproduced", 1.5)), float(tol.get("partly", 2.0)), higher_is_better=False
    )
    return Verdict(
        {
            "value": f"{ra:.2f} (priors, mp/(h+k)) vs {rb:.2f} (plain, mp/(n+m)); factor {f:.2f}",
            "priors_r50": ra,
            "plain_r50": rb,
            "factor": f,
        },
        verdict,
        "",
    )


def rule_exact_recovery(claim: dict, rows: list[dict]) -> Verdict:
    """Pooled success rate of the method over all points with mp/unknowns >= ratio_min (noise-free variants
    listed in derive.variants). Reproduced if >= tolerance.reproduced, partly if >= partly."""
    dv, tol = claim["derive"], _tol(claim)
    s = t = 0
    worst = 0.0
    for row in rows:
        if variant_of(row) not in dv.get("variants", ["plain"]) or not selected(row, dv.get("select")):
            continue
        for q in row.get("points", []):
            if q["method"] == dv.get("method", "pgd") and q["ratio"] >= float(dv["ratio_min"]):
                s += q["successes"]
                t += q["trials"]
                worst = max(worst, q["q90_err"] if q["q90_err"] is not None else float("inf"))
    if not t:
        return not_run(f"no point with ratio >= {dv['ratio_min']}")
    rate = s / t
    lo, hi = wilson_interval(s, t)
    verdict = ladder(rate, float(tol.get("reproduced", 0.99)), float(tol.get("partly", 0.9)))
    return Verdict(
        {
            "value": f"{s}/{t} = {rate:.3f} (95% CI {lo:.3f}-{hi:.3f})",
            "rate": rate,
            "ci_low": lo,
            "ci_high": hi,
            "worst_q90_err": worst,
        },
        verdict,
        "",
    )


def rule_noise_slope(claim: dict, rows: list[dict]) -> Verdict:
    """Log-log slope of the median relative error against the noise level, fitted over the points of every
    matching noise run (``reporting.stats.loglog_slope``, 95% t-interval). Reproduced if the whole interval
    lies within 1 ± tolerance.reproduced; partly if the slope is within 1 ± tolerance.partly."""
    dv, tol = claim["derive"], _tol(claim)
    method = dv.get("method", "pgd")
    runs = [row for row in rows if variant_of(row) == "noise" and selected(row, dv.get("select"))]
    pts = [
        (q["noise"], q["median_err"])
        for row in runs
        for q in row.get("points", [])
        if q["method"] == method and q["median_err"] is not None
    ]
    if len({x for x, _ in pts}) < 2:
        return not_run(f"no noise run with two noise levels matches {dv.get('select') or {}}")
    s = loglog_slope([x for x, _ in pts], [y for _, y in pts])
    rep, part = float(tol.get("reproduced", 0.2)), float(tol.get("partly", 0.5))
    if s.n >= 3 and 1 - rep <= s.lo and s.hi <= 1 + rep:
        verdict = REPRODUCED
    else:
        verdict = PARTLY if abs(s.slope - 1) <= part else NOT
    interval = f"[{s.lo:.3f}, {s.hi:.3f}]" if s.n >= 3 else "(no interval)"
    return Verdict(
        {
            "value": f"{s.slope:.3f} {interval} (n={s.n} points from {len(runs)} run(s), R² {s.r2:.4f})",
            **s.as_dict(),
            "per_run": [row.get(f"{method}_noise_slope") for row in runs],
        },
        verdict,
        "slope of log(median max-relative-error) vs log(noise level), 95% t-interval",
    )


RULES = {
    "bc_collapse": rule_collapse,
    "bc_same_constant": rule_same_constant,
    "bc_exact_recovery": rule_exact_recovery,
    "bc_noise_slope": rule_noise_slope,
}
