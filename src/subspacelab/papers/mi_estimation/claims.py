"""Derive rules of the MI-estimation claims, over the per-data-set records (``trial_records``) of the runs.
"Condition" = (K_Z, I, N); seeds and repeats (independent data sets) are pooled within a condition."""

from __future__ import annotations

import math
import statistics

import numpy as np

from subspacelab.experiments import wilson_interval
from subspacelab.reporting.stats import t_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, holds, ladder, not_run, param


def records(rows: list[dict], **where) -> list[dict]:
    """Every data set's record in the runs, filtered by ``where`` (a value or a list of accepted values)."""
    out = []
    for row in rows:
        for r in row.get("trial_records", []):
            if all(_matches(r.get(k), v) for k, v in where.items() if v is not None):
                out.append(r)
    return out


def _matches(value, want) -> bool:
    if isinstance(want, (list, tuple)):
        return any(_matches(value, w) for w in want)
    if isinstance(want, float) or isinstance(value, float):
        return value is not None and abs(float(value) - float(want)) < 1e-9
    return value == want


def _conditions(recs: list[dict], est: str) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        if est in r:
            groups.setdefault((r["latent_dim"], r["mi_bits"], r["n"]), []).append(r)
    return dict(sorted(groups.items()))


def _cond_name(key: tuple) -> str:
    return f"K_Z={key[0]}, I={key[1]:g} b, N={key[2]}"


def rule_ksg_collapse(claim: dict, rows: list[dict]) -> Verdict:
    """Median KSG estimate on the K-dimensional data / true MI per (K_Z, I, N); "collapse" = ratio <= ``max_ratio``.
    Reproduced if every condition collapses, partly if at least one does."""
    groups = _conditions(records(rows, latent_dim=param(claim, "latent_dims")), "ksg")
    if not groups:
        return not_run("no KSG runs")
    thr = float(param(claim, "max_ratio", 0.5))
    ratios = {
        _cond_name(k): statistics.median(r["ksg"] for r in rs) / rs[0]["true_bits"]
        for k, rs in groups.items()
    }
    lat = {
        _cond_name(k): statistics.median(r["ksg_latent"] for r in rs) / rs[0]["true_bits"]
        for k, rs in groups.items()
        if all("ksg_latent" in r for r in rs)
    }
    n_col = sum(v <= thr for v in ratios.values())
    value = f"KSG/true {n_col}/{len(ratios)} conditions <= {thr:g}: " + "; ".join(
        f"{k}: {v:.2f}" for k, v in ratios.items()
    )
    if lat:
        value += " | on latents: " + ", ".join(f"{v:.2f}" for v in lat.values())
    same = bool(lat) and all(abs(ratios[k] - lat[k]) <= 0.1 for k in lat)
    note = (
        (
            "KSG on the K-dimensional data matches KSG on the latents (within 0.1 of the ratio): its error follows "
            "the latent dimension K_Z, not the ambient K"
        )
        if same
        else ""
    )
    return Verdict(
        {"value": value, "ratio": ratios, "latent_ratio": lat}, holds(n_col == len(ratios), n_col > 0), note
    )


def rule_infonce_bias(claim: dict, rows: list[dict]) -> Verdict:
    """Relative bias |median(plain InfoNCE) - I| / I per condition; biased if >= ``min_rel_bias``. Reproduced if
    at least half the conditions are biased, partly if at least one."""
    groups = _conditions(records(rows), "infonce")
    if not groups:
        return not_run("no plain InfoNCE runs")
    thr = float(param(claim, "min_rel_bias", 0.2))
    bias = {
        _cond_name(k): statistics.median(r["infonce"] for r in rs) / rs[0]["true_bits"] - 1
        for k, rs in groups.items()
    }
    nb = sum(abs(b) >= thr for b in bias.values())
    value = f"{nb}/{len(bias)} conditions with |bias| >= {thr:.0%}: " + "; ".join(
        f"{k}: {b:+.0%}" for k, b in bias.items()
    )
    return Verdict({"value": value, "relative_bias": bias}, holds(nb >= len(bias) / 2, nb > 0))


def _coverage(recs: list[dict], est: str, key: str = "covered") -> tuple[int, int]:
    rs = [r for r in recs if f"{est}_{key}" in r]
    return sum(bool(r[f"{est}_{key}"]) for r in rs), len(rs)


def rule_coverage(claim: dict, rows: list[dict]) -> Verdict:
    """Coverage of the protocol's interval (level = the run's ``confidence``) at the given latent dimensions,
    pooled over N, I, seeds. Reproduced if coverage >= nominal - ``tolerance``; partly if >= nominal -
    ``partly_tolerance``; the reliable-only coverage and the other interval kinds are reported alongside."""
    est = param(claim, "estimator", "protocol")
    recs = records(rows, latent_dim=param(claim, "latent_dims"), mi_bits=param(claim, "mi_bits"))
    k, n = _coverage(recs, est)
    if not n:
        return not_run("no protocol runs")
    nominal = float(param(claim, "nominal", 0.68))
    tol, ptol = float(param(claim, "tolerance", 0.1)), float(param(claim, "partly_tolerance", 0.3))
    lo, hi = wilson_interval(k, n)
    kr, nr = _coverage([r for r in recs if r.get(f"{est}_reliable")], est)
    k95, _ = _coverage(recs, est, "covered95")
    kpi, _ = _coverage(recs, est, "covered_pi")
    kt, nt = _coverage(recs, est, "covered_t")
    rate = k / n
    value = (
        f"{k}/{n} = {rate:.0%} (95% Wilson {lo:.0%}-{hi:.0%}) for nominal {nominal:.0%}; reliable-flagged "
        f"{nr}/{n}, of which covered {kr}; 95% CI covers {k95}/{n}; 68% prediction interval {kpi}/{n}"
    )
    if nt:
        value += f"; t-criterion fit covers {kt}/{nt}"
    return Verdict(
        {
            "value": value,
            "coverage": rate,
            "n": n,
            "wilson": [lo, hi],
            "reliable_n": nr,
            "reliable_covered": kr,
            "coverage95": k95 / n,
            "coverage_pi": kpi / n,
        },
        ladder(rate, nominal - tol, nominal - ptol),
    )


def rule_flags_failure(claim: dict, rows: list[dict]) -> Verdict:
    """P(flagged unreliable | interval misses the truth) at the given latent dimensions, against
    P(flagged | covers) over all runs. Reproduced if the first is >= ``min_flag_rate`` and exceeds the second by
    >= ``min_gap``; partly if the first is >= ``partly_flag_rate``; else not reproduced."""
    est = param(claim, "estimator", "protocol")
    flag_key = param(claim, "flag", "reliable")
    allr = [r for r in records(rows) if f"{est}_covered" in r]
    hard = [r for r in records(rows, latent_dim=param(claim, "latent_dims")) if f"{est}_covered" in r]
    if not hard:
        return not_run("no protocol runs at these latent dimensions")
    miss = [r for r in hard if not r[f"{est}_covered"]]
    hits = [r for r in allr if r[f"{est}_covered"]]
    f_miss = float(np.mean([not r[f"{est}_{flag_key}"] for r in miss])) if miss else math.nan
    f_hit = float(np.mean([not r[f"{est}_{flag_key}"] for r in hits])) if hits else math.nan
    f_hard = float(np.mean([not r[f"{est}_{flag_key}"] for r in hard]))
    value = (
        f"{len(miss)}/{len(hard)} intervals miss the truth here; flagged: {f_miss:.0%} of misses, "
        f"{f_hit:.0%} of covering intervals (all runs), {f_hard:.0%} of all runs here"
    )
    alt = next(
        (
            k
            for k in ("reliable_t", "reliable_ratio")
            if k != flag_key and all(f"{est}_{k}" in r for r in allr)
        ),
        None,
    )
    if alt and miss:
        a_miss = float(np.mean([not r[f"{est}_{alt}"] for r in miss]))
        a_hit = float(np.mean([not r[f"{est}_{alt}"] for r in hits])) if hits else math.nan
        value += (
            f" | with the {alt.split('_')[1]}-criterion flag: {a_miss:.0%} of misses, {a_hit:.0%} of covering"
        )
    measured = {
        "value": value,
        "miss": len(miss),
        "n": len(hard),
        "flag_rate_miss": f_miss,
        "flag_rate_hit": f_hit,
    }
    if not miss:
        return Verdict(measured, PARTLY, "no interval missed the truth here, so flagging could not be tested")
    min_gap = float(param(claim, "min_gap", 0.25))
    gap = f_miss - (f_hit if math.isfinite(f_hit) else 0.0)
    if f_miss >= float(param(claim, "min_flag_rate", 0.75)) and gap >= min_gap:
        return Verdict(measured, REPRODUCED)
    if f_miss >= float(param(claim, "partly_flag_rate", 0.5)):
        return Verdict(
            measured,
            PARTLY,
            "the flag does not discriminate: it fires as often on covering intervals"
            if gap < min_gap
            else "",
        )
    return Verdict(measured, NOT, "most failures pass the consistency checks")


def rule_beats_baselines(claim: dict, rows: list[dict]) -> Verdict:
    """Per condition, the protocol's mean |error| vs the best baseline's (KSG, plain InfoNCE; the one with the
    lower mean |error|): the protocol "matches or beats" it if its error <= best * (1 + ``rel_slack``) +
    ``abs_slack`` bits. Noise-aware: a condition counts for ``reproduced`` only if the upper end of the 95%
    t-interval of the paired per-data-set difference (protocol |error| - best |error|, n data sets) is within
    that slack. Reproduced if every condition passes so; partly if at least half pass on the means."""
    est = param(claim, "estimator", "protocol")
    groups = _conditions(records(rows), est)
    if not groups:
        return not_run("no protocol runs")
    rel, ab = float(param(claim, "rel_slack", 0.1)), float(param(claim, "abs_slack", 0.05))
    ok, strict, parts = {}, {}, []
    for key, rs in groups.items():
        t = rs[0]["true_bits"]
        base = {b: [abs(r[b] - t) for r in rs] for b in ("ksg", "infonce") if all(b in r for r in rs)}
        if not base:
            continue
        e_p = [abs(r[est] - t) for r in rs]
        best_name = min(base, key=lambda b: float(np.mean(base[b])))
        best = float(np.mean(base[best_name]))
        slack = best * rel + ab
        diff = t_interval(np.subtract(e_p, base[best_name]))
        name = _cond_name(key)
        ok[name] = bool(float(np.mean(e_p)) <= best + slack)
        strict[name] = bool(diff.n >= 2 and diff.hi <= slack)
        parts.append(
            f"{name}: {np.mean(e_p):.2f} vs "
            + ", ".join(f"{b} {np.mean(v):.2f}" for b, v in base.items())
            + f" (protocol - {best_name}: {diff.text('+.2f')})"
        )
    if not ok:
        return not_run("no baselines run")
    frac = float(np.mean(list(ok.values())))
    value = (
        f"mean |error| (bits), {sum(ok.values())}/{len(ok)} matched or beaten on the means, "
        f"{sum(strict.values())}/{len(ok)} with the interval within the slack: " + "; ".join(parts)
    )
    loose = [k for k in ok if ok[k] and not strict[k]]
    note = f"matched on the means but not within the interval: {', '.join(loose)}" if loose else ""
    return Verdict(
        {"value": value, "ok": ok, "ok_interval": strict}, holds(all(strict.values()), frac >= 0.5), note
    )


def rule_vsib(claim: dict, rows: list[dict]) -> Verdict:
    """At MI >= ``min_bits``: |error| of the separable protocol minus that of the VSIB protocol, paired over the
    same data sets, per condition. Reproduced if in every condition the 95% t-interval of that difference (n data
    sets) lies above 0; partly if VSIB's mean |error| is lower in at least one condition; else not reproduced."""
    recs = [
        r
        for r in records(rows)
        if r["mi_bits"] >= float(param(claim, "min_bits", 5.0)) and "protocol_vsib" in r and "protocol" in r
    ]
    if not recs:
        return not_run("no VSIB runs at high MI")
    better, sure, parts = {}, {}, []
    for key, rs in _conditions(recs, "protocol_vsib").items():
        t = rs[0]["true_bits"]
        ev = [abs(r["protocol_vsib"] - t) for r in rs]
        es = [abs(r["protocol"] - t) for r in rs]
        diff = t_interval(np.subtract(es, ev))
        name = _cond_name(key)
        better[name] = bool(diff.mean > 0)
        sure[name] = bool(diff.n >= 2 and diff.lo > 0)
        parts.append(
            f"{name}: VSIB {np.mean(ev):.2f} (sd {np.std([r['protocol_vsib'] for r in rs]):.2f}) vs "
            f"separable {np.mean(es):.2f} (sd {np.std([r['protocol'] for r in rs]):.2f}); "
            f"separable - VSIB |error| {diff.text('+.2f')}"
        )
    value = f"mean |error| (bits), {len(better)} condition(s): " + "; ".join(parts)
    lone = [k for k in better if better[k] and not sure[k]]
    note = (
        f"lower on the mean, but the interval includes 0 (or one data set): {', '.join(lone)}" if lone else ""
    )
    return Verdict(
        {"value": value, "better": better, "interval_excludes_0": sure},
        holds(all(sure.values()), any(better.values())),
        note,
    )


RULES = {
    "mie_ksg_collapse": rule_ksg_collapse,
    "mie_infonce_bias": rule_infonce_bias,
    "mie_coverage": rule_coverage,
    "mie_flags_failure": rule_flags_failure,
    "mie_beats_baselines": rule_beats_baselines,
    "mie_vsib": rule_vsib,
}
