"""Derive rules: the perplexity gap between mixers (seed-paired, against the matched control) and the
log-log slope of cost against sequence length (with its interval)."""

from __future__ import annotations

import math
import statistics

from subspacelab.papers.grassmann_flows.common import TIMED, analysis_rows, lm_runs, mixer
from subspacelab.reporting.stats import loglog_slope, t_interval
from subspacelab.reporting.verdict import PARTLY, REPRODUCED, Verdict, cap_for_one_seed, holds, not_run, param


def per_seed_ppl(rows: list[dict], which: str) -> dict[int, float]:
    return {r["seed"]: r["val_ppl"] for r in lm_runs(rows) if mixer(r) == which}


def gap(rows: list[dict], reference: str) -> dict | None:
    """Grassmann's perplexity relative to ``reference``'s: the ratio of the seed means minus one, and the
    t-interval of the seed-paired gaps ppl_G(s) / ppl_ref(s) - 1 (n = the seeds both arms ran)."""
    g, r = per_seed_ppl(rows, "grassmann"), per_seed_ppl(rows, reference)
    seeds = sorted(set(g) & set(r))
    if not seeds:
        return None
    gaps = [g[s] / r[s] - 1 for s in seeds]
    mg, mr = statistics.fmean(g[s] for s in seeds), statistics.fmean(r[s] for s in seeds)
    iv = t_interval(gaps)
    return {
        "gap": mg / mr - 1,
        "seed_gaps": gaps,
        "interval": iv.as_dict(),
        "n": len(seeds),
        "grassmann_ppl": mg,
        "reference_ppl": mr,
        "_iv": iv,
    }


def _gap_text(m: dict, reference: str) -> str:
    iv = m["_iv"]
    ci = f"paired 95% interval [{iv.lo:+.1%}, {iv.hi:+.1%}]" if m["n"] > 1 else "no interval"
    return (
        f"{m['gap']:+.1%} vs {reference} (Grassmann {m['grassmann_ppl']:.2f} vs {m['reference_ppl']:.2f}; "
        f"per seed {', '.join(f'{x:+.1%}' for x in m['seed_gaps'])}; {ci}, n={m['n']} seeds)"
    )


def _supports(m: dict) -> str:
    lo, hi = (m["_iv"].lo, m["_iv"].hi) if m["n"] > 1 else (m["gap"], m["gap"])
    if hi <= 0.15:
        return "the paper (<= 15%)"
    if lo >= 0.30:
        return "the independent reproduction (>= 30%)"
    return "neither clearly (the interval reaches into 15-30% or spans it)"


def rule_ppl_gap(claim: dict, rows: list[dict]) -> Verdict:
    """The gap against ``control`` (attention without positions, like the Grassmann LM): reproduced when the
    upper end of its paired seed interval is <= ``reproduced_below``, partly when the gap itself is <=
    ``partly_below``; one seed is at most partly. Without control runs the gap to rotary attention is judged,
    at most partly."""
    rep, part = float(param(claim, "reproduced_below")), float(param(claim, "partly_below"))
    control = param(claim, "control", "attention_nope")
    rope = gap(rows, "attention")
    matched = gap(rows, control)
    judged = matched or rope
    if judged is None:
        return not_run("needs runs of the Grassmann LM and of an attention LM")
    upper = judged["_iv"].hi if judged["n"] > 1 else judged["gap"]
    verdict = cap_for_one_seed(holds(upper <= rep, judged["gap"] <= part), judged["n"])
    parts = [_gap_text(m, name) for name, m in ((control, matched), ("attention", rope)) if m]
    notes = []
    if matched is None:
        verdict = PARTLY if verdict == REPRODUCED else verdict
        notes.append(
            f"matched control not yet run ({control}): judged against attention with rotary positions, "
            "which the Grassmann LM lacks; at most partly"
        )
    else:
        notes.append(f"judged against {control} (no positions in either arm); supports {_supports(matched)}")
    if judged["n"] < 2:
        notes.append("one seed: at most partly")
    measured = {
        "value": "; ".join(parts),
        **{k: v for k, v in judged.items() if k != "_iv"},
        "judged_against": control if matched else "attention",
    }
    if matched and rope:
        measured["rope_gap"] = rope["gap"]
    return Verdict(measured, verdict, "; ".join(notes))


def _points(rows: list[dict], which: str) -> dict[int, float]:
    a = analysis_rows(rows)
    lo = min((r["slope_from"] for r in a), default=0)
    return {r["seq_len"]: r["seconds"] for r in a if r["mixer"] == which and r["seq_len"] >= lo}


def slopes(rows: list[dict]):
    """Log-log slope (stats.Slope, with its interval) of time against L per timed mixer, over the lengths
    from the analysis' ``slope_from`` on."""
    out = {}
    for m in TIMED:
        pts = _points(rows, m)
        if len(pts) >= 2:
            out[m] = loglog_slope(list(pts), list(pts.values()))
    return out


def slope_difference(rows: list[dict]):
    """Attention's slope minus the Grassmann model's, paired by length: the log-log slope of their time ratio."""
    a, g = _points(rows, "attention"), _points(rows, "grassmann")
    lens = sorted(set(a) & set(g))
    return loglog_slope(lens, [a[n] / g[n] for n in lens]) if len(lens) >= 2 else None


def rule_scaling_slope(claim: dict, rows: list[dict]) -> Verdict:
    """Reproduced: the Grassmann slope's 95% interval lies at or below ``linear_max`` and the interval of
    attention's slope minus the Grassmann one (paired by length) lies above 0; partly: the Grassmann point
    slope is <= ``partly_max``."""
    s = slopes(rows)
    if set(s) != set(TIMED):
        return not_run("no scaling measurement")
    g, a, d = s["grassmann"], s["attention"], slope_difference(rows)
    linear, partly = float(param(claim, "linear_max")), float(param(claim, "partly_max"))
    is_linear = not math.isnan(g.hi) and g.hi <= linear
    below = d is not None and not math.isnan(d.lo) and d.lo > 0
    verdict = holds(is_linear and below, partial=g.slope <= partly)
    value = (
        f"time ~ L^{g.text()} (Grassmann) vs L^{a.text()} (attention); attention minus Grassmann "
        f"{d.text() if d else '-'}"
    )
    note = "log-log slope of forward+backward time, batch 1, one CPU thread; 95% t-intervals over the lengths"
    if not is_linear and g.slope <= partly:
        note += f"; the Grassmann interval reaches past {linear}"
    if not below:
        note += "; the slope difference's interval does not exclude 0"
    return Verdict(
        {
            "value": value,
            "grassmann_slope": g.as_dict(),
            "attention_slope": a.as_dict(),
            "difference": d.as_dict() if d else None,
        },
        verdict,
        note,
    )


def rule_not_implemented(claim: dict, rows: list[dict]) -> Verdict:
    return not_run("not implemented: needs SNLI and a pre-trained DistilBERT")


RULES = {"ppl_gap": rule_ppl_gap, "scaling_slope": rule_scaling_slope, "not_run": rule_not_implemented}
