"""Derive rules of the DSE claims: the toy study (DSE against intrinsic dimension and noise, binned entropy's
saturation) and the training study (trends of DSE / DSMI over training, clean against random labels)."""

from __future__ import annotations

import math

import numpy as np

from subspacelab.papers.dse.experiment import toy_summary
from subspacelab.reporting.stats import t_interval
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

_ORDER = {REPRODUCED: 0, PARTLY: 1, NOT: 2}


def toy_rows(rows):
    return [r for r in rows if r.get("study") == "toy"]


def training_rows(rows, labels: str | None = None, dataset: str | None = None):
    return [
        r
        for r in rows
        if r.get("study") == "training"
        and (labels is None or r.get("labels") == labels)
        and (dataset is None or r.get("dataset") == dataset)
    ]


def _toy_stats(rows, t):
    """toy_summary over the pooled points of all toy runs (seeds averaged point by point)."""
    pts: dict[tuple, list] = {}
    n_points = None
    for row in toy_rows(rows):
        n_points = row.get("n_points", n_points)
        for p in row["points"]:
            if p.get("kind") == "toy":
                pts.setdefault((p["distribution"], p["noise"], p["k"], p["t"]), []).append(p)
    pooled = [
        {
            "kind": "toy",
            "distribution": d,
            "noise": n,
            "k": k,
            "t": tt,
            "dse_mean": float(np.mean([p["dse_mean"] for p in ps])),
            "cse_mean": float(np.mean([p["cse_mean"] for p in ps])),
        }
        for (d, n, k, tt), ps in pts.items()
    ]
    return toy_summary(pooled, t, n_points or 2) if pooled else None


def _noisy_keys(keys) -> list[str]:
    """The ``dist@noise`` keys above each distribution's lowest noise level."""
    lowest: dict[str, float] = {}
    for key in keys:
        dist, noise = key.split("@")
        lowest[dist] = min(float(noise), lowest.get(dist, math.inf))
    return [k for k in keys if float(k.split("@")[1]) > lowest[k.split("@")[0]]]


def rule_toy_monotone(claim: dict, rows: list[dict]) -> Verdict:
    """Spearman rho between intrinsic dimension k and mean DSE, per (distribution, noise level). Reproduced if
    rho >= ``min_rho`` for every curve; partly if it holds at the lowest noise level of every distribution."""
    stats = _toy_stats(rows, int(param(claim, "t", 1)))
    if stats is None:
        return not_run("no toy runs")
    thr = float(param(claim, "min_rho", 0.9))
    rho = stats["dse_spearman"]
    low = {}
    for key in rho:
        dist, noise = key.split("@")
        if dist not in low or float(noise) < float(low[dist].split("@")[1]):
            low[dist] = key
    value = "Spearman rho(k, DSE): " + ", ".join(f"{k} {v:.3f}" for k, v in rho.items())
    value += "; CSE: " + ", ".join(f"{k} {v:.2f}" for k, v in stats["cse_spearman"].items())
    every = all(math.isfinite(v) and v >= thr for v in rho.values())
    lowest = all(math.isfinite(rho[k]) and rho[k] >= thr for k in low.values())
    bad = [k for k, v in rho.items() if not (math.isfinite(v) and v >= thr)]
    sat_k = stats["dse_saturation_k"]
    note = "DSE within 0.05 bits of log2 N from k = " + ", ".join(f"{k} {v}" for k, v in sat_k.items() if v)
    if bad:
        note = f"rho < {thr} at: {', '.join(bad)}; " + note
    return Verdict(
        {
            "value": value,
            "dse_spearman": rho,
            "cse_spearman": stats["cse_spearman"],
            "dse_saturation_k": sat_k,
        },
        holds(every, lowest),
        note,
    )


def rule_toy_noise(claim: dict, rows: list[dict]) -> Verdict:
    """Noise resistance of DSE. For every noise level above the lowest: DSE's largest change over k from its
    lowest-noise curve, relative to that curve's range over k (``dse_noise_rel_change``). Reproduced if it is
    <= ``max_rel_change`` at every such level; partly if at some; else not reproduced."""
    stats = _toy_stats(rows, int(param(claim, "t", 1)))
    if stats is None:
        return not_run("no toy runs")
    max_rel = float(param(claim, "max_rel_change", 0.25))
    rel = stats["dse_noise_rel_change"]
    noisy = _noisy_keys(rel)
    if not noisy:
        return not_run("only one noise level")
    passes = {k: bool(rel[k] <= max_rel) for k in noisy}
    value = "DSE change / DSE range over k: " + ", ".join(f"{k} {rel[k]:.2f}" for k in noisy)
    failing = [k for k, ok in passes.items() if not ok]
    return Verdict(
        {"value": value, "dse_noise_rel_change": rel, "passes": passes},
        holds(all(passes.values()), any(passes.values())),
        "" if not failing else f"fails at: {', '.join(failing)}",
    )


def rule_cse_saturation(claim: dict, rows: list[dict]) -> Verdict:
    """Binned Shannon entropy at its ceiling: min over k of CSE / log2 N >= ``min_cse_saturation`` at every
    (distribution, noise level): reproduced; at some: partly."""
    stats = _toy_stats(rows, int(param(claim, "t", 1)))
    if stats is None:
        return not_run("no toy runs")
    thr = float(param(claim, "min_cse_saturation", 0.95))
    sat = stats["cse_saturation"]
    ok = {k: bool(v >= thr) for k, v in sat.items()}
    value = "CSE min over k / log2 N: " + ", ".join(f"{k} {v:.2f}" for k, v in sat.items())
    failing = [k for k, v in ok.items() if not v]
    return Verdict(
        {"value": value, "cse_saturation": sat},
        holds(all(ok.values()), any(ok.values())),
        "" if not failing else f"below {thr:g} at: {', '.join(failing)}",
    )


def _change(row, measure):
    a, b = row.get(f"{measure}_initial"), row.get(f"{measure}_final")
    return (b - a) if a is not None and b is not None else float("nan")


def _trend(rs: list[dict], measure: str, sign: float) -> tuple[str, dict, str]:
    """Verdict of one measure's change (final - epoch 0) over the runs ``rs`` in the direction ``sign``:
    reproduced if every run moves that way and the 95% t-interval of the change over the runs (n = runs) lies
    wholly on that side of 0 (one run: at most partly); partly if at least half the runs, or the mean change of
    every dataset, move that way; else not reproduced."""
    by_ds: dict[str, list] = {}
    for r in rs:
        by_ds.setdefault(r["dataset"], []).append(r)
    parts, changes = [], {}
    for ds, rr in sorted(by_ds.items()):
        changes[ds] = [_change(r, measure) for r in rr]
        ini = np.mean([r[f"{measure}_initial"] for r in rr])
        fin = np.mean([r[f"{measure}_final"] for r in rr])
        parts.append(
            f"{ds}: {ini:.3f} -> {fin:.3f} bits (per seed change "
            + ", ".join(f"{c:+.3f}" for c in changes[ds])
            + ")"
        )
    pooled = [c for ch in changes.values() for c in ch]
    ci = t_interval(pooled)
    every = all(sign * c > 0 for c in pooled)
    excludes = ci.n >= 2 and (ci.lo > 0 if sign > 0 else ci.hi < 0)
    half = float(np.mean([sign * c > 0 for c in pooled])) >= 0.5
    mean_ok = all(sign * np.mean(c) > 0 for c in changes.values())
    verdict = cap_for_one_seed(holds(every and (excludes or ci.n < 2), half or mean_ok), ci.n)
    text = "; ".join(parts) + f"; change {ci.text('+.3f')}"
    measured = {"value": text, "changes": changes, "interval": ci.as_dict(), "n": ci.n}
    note = ""
    if every and ci.n >= 2 and not excludes:
        note = f"every run moves as claimed, but the 95% interval over n={ci.n} runs includes 0"
    elif ci.n < 2:
        note = "one run: at most partly"
    return verdict, measured, note


def rule_training_trend(claim: dict, rows: list[dict]) -> Verdict:
    """``measure`` (final minus epoch-0 value) over the runs with ``labels`` (and ``datasets`` if given), judged
    by :func:`_trend` in ``direction`` (up/down). With a ``control`` measure (the same quantity with a confound
    removed), the control is judged the same way and the verdict is the worse of the two: the claim holds only
    if it survives the control."""
    measure = param(claim, "measure", "dse_z")
    datasets = param(claim, "datasets", None)
    sign = 1.0 if param(claim, "direction", "up") == "up" else -1.0
    rs = [
        r
        for r in training_rows(rows, param(claim, "labels", "clean"))
        if datasets is None or r.get("dataset") in datasets
    ]
    if not rs:
        return not_run("no training runs")
    verdict, measured, note = _trend(rs, measure, sign)
    control = param(claim, "control", None)
    if not control:
        return Verdict(measured, verdict, note)
    c_verdict, c_measured, c_note = _trend(rs, control, sign)
    final = max(verdict, c_verdict, key=_ORDER.__getitem__)
    measured = {
        **measured,
        "value": f"{measure}: {measured['value']} | control {control}: {c_measured['value']}",
        "raw_verdict": verdict,
        "control_verdict": c_verdict,
        f"{control}_changes": c_measured["changes"],
        "control_interval": c_measured["interval"],
    }
    notes = [
        f"{measure} alone: {verdict}",
        f"control {control}: {c_verdict}" + (f" ({c_note})" if c_note else ""),
    ]
    if _ORDER[c_verdict] > _ORDER[verdict]:
        notes.append("the change does not survive the control")
    return Verdict(measured, final, "; ".join(notes))


def rule_dsmi_labels(claim: dict, rows: list[dict]) -> Verdict:
    """DSMI(Z;Y) with true vs random labels, paired by (dataset, seed). Per pair: the true-label run rises, the
    random-label run's change is below ``max_random_fraction`` of that rise, and the true run ends >= ``min_gap``
    bits above the random one. Reproduced if every pair passes AND the 95% t-intervals over the pairs (n = pairs)
    of the true-label rise and of the difference of the changes (true - random) both lie above 0 (one pair: at
    most partly); partly if at least half the pairs pass; else not reproduced."""
    measure = param(claim, "measure", "dsmi_zy")
    frac_max = float(param(claim, "max_random_fraction", 0.5))
    min_gap = float(param(claim, "min_gap", 0.1))
    true = {(r["dataset"], r["seed"]): r for r in training_rows(rows, "clean")}
    rand = {(r["dataset"], r["seed"]): r for r in training_rows(rows, "random")}
    pairs = sorted(set(true) & set(rand))
    if not pairs:
        return not_run("no true/random pairs")
    checks, parts, rises, diffs = {}, [], [], []
    for key in pairs:
        tr, rr = true[key], rand[key]
        d_true, d_rand = _change(tr, measure), _change(rr, measure)
        gap = tr[f"{measure}_final"] - rr[f"{measure}_final"]
        rises.append(d_true)
        diffs.append(d_true - d_rand)
        checks[f"{key[0]}/s{key[1]}"] = bool(d_true > 0 and d_rand < frac_max * d_true and gap >= min_gap)
        parts.append(
            f"{key[0]} s{key[1]}: true {tr[f'{measure}_initial']:.3f}->{tr[f'{measure}_final']:.3f}, "
            f"random {rr[f'{measure}_initial']:.3f}->{rr[f'{measure}_final']:.3f}"
        )
    rise_ci, diff_ci = t_interval(rises), t_interval(diffs)
    frac = float(np.mean(list(checks.values())))
    excludes = rise_ci.n >= 2 and rise_ci.lo > 0 and diff_ci.lo > 0
    verdict = cap_for_one_seed(holds(frac == 1.0 and (excludes or rise_ci.n < 2), frac >= 0.5), rise_ci.n)
    value = (
        "; ".join(parts) + f" (bits); true-label rise {rise_ci.text('+.3f')}; "
        f"true - random change {diff_ci.text('+.3f')}"
    )
    failing = [k for k, v in checks.items() if not v]
    notes = [f"fails for: {', '.join(failing)}"] if failing else []
    if frac == 1.0 and not excludes:
        notes.append(
            "one pair: at most partly" if rise_ci.n < 2 else "the 95% interval over pairs includes 0"
        )
    return Verdict(
        {
            "value": value,
            "checks": checks,
            "rise_interval": rise_ci.as_dict(),
            "difference_interval": diff_ci.as_dict(),
            "n": rise_ci.n,
        },
        verdict,
        "; ".join(notes),
    )


RULES = {
    "dse_toy_monotone": rule_toy_monotone,
    "dse_toy_noise": rule_toy_noise,
    "dse_cse_saturation": rule_cse_saturation,
    "dse_training_trend": rule_training_trend,
    "dse_dsmi_labels": rule_dsmi_labels,
}
