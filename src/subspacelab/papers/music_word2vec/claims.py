"""Derive rules for music_word2vec's claims. Every rule reads the runs of the ``original`` corpus order (the
method) and puts the controls' numbers beside them: the untrained (Gaussian) vectors, the triads' plain
pitch-class vectors, the shuffled-order models and the random substitutes."""

from __future__ import annotations

import math

import numpy as np

from subspacelab.reporting.stats import difference_interval, t_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, cap_for_one_seed, not_run, param


def arm(rows: list[dict], order: str = "original") -> list[dict]:
    """The runs of one corpus order, sorted by seed."""
    return sorted((r for r in rows if r.get("order", "original") == order), key=lambda r: r.get("seed", 0))


def values(rows: list[dict], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key) is not None and math.isfinite(float(r[key]))]


def _paired(a: list[dict], b: list[dict], key_a: str, key_b: str) -> tuple[list[float], list[float]]:
    """Values of ``key_a`` in ``a`` and ``key_b`` in ``b`` for the seeds both have."""
    ra = {r.get("seed"): r for r in a if r.get(key_a) is not None}
    rb = {r.get("seed"): r for r in b if r.get(key_b) is not None}
    seeds = sorted(set(ra) & set(rb))
    return [float(ra[s][key_a]) for s in seeds], [float(rb[s][key_b]) for s in seeds]


def _means(rows: list[dict], keys: dict[str, tuple[str, str]]) -> str:
    """'label mean' for each (order, key) that has values, for the controls shown beside the method."""
    parts = []
    for label, (order, key) in keys.items():
        v = values(arm(rows, order), key)
        if v:
            parts.append(f"{label} {np.mean(v):.3g}")
    return "; ".join(parts)


def rule_rank_correlation(claim: dict, rows: list[dict]) -> Verdict:
    """Seed mean of the Spearman rho ``derive.metric`` (with its p-value ``derive.p_metric``) of the original
    order. Reproduced: mean >= ``reproduced``, the 95% t-interval over seeds lies above 0 and p < ``alpha`` in
    every seed; partly: the interval lies above 0 (one seed: rho > 0 and p < alpha, at most partly)."""
    metric, p_metric = param(claim, "metric"), param(claim, "p_metric")
    runs = arm(rows)
    rho, ps = values(runs, metric), values(runs, p_metric)
    if not rho:
        return not_run(f"no original-order run reports {metric}")
    iv = t_interval(rho)
    alpha = float(param(claim, "alpha", 0.05))
    all_sig = len(ps) == len(rho) and all(p < alpha for p in ps)
    above = iv.lo > 0 if iv.n >= 2 else (iv.mean > 0 and all_sig)
    if above and all_sig and iv.mean >= float(param(claim, "reproduced", 0.5)):
        verdict = REPRODUCED
    else:
        verdict = PARTLY if above else NOT
    verdict = cap_for_one_seed(verdict, iv.n)
    controls = _means(rows, param(claim, "controls", {}))
    value = f"rho {iv.text()}, p <= {max(ps):.3g} in every seed" + (
        f"; controls: {controls}" if controls else ""
    )
    return Verdict({"value": value, **iv.as_dict(), "p_max": max(ps) if ps else None}, verdict)


def rule_gap_above_control(claim: dict, rows: list[dict]) -> Verdict:
    """Paired (over seeds) difference ``derive.metric`` - ``derive.control`` (both of the original-order
    runs; ``control`` may be absent: then the difference to 0). Reproduced: the 95% interval of the
    difference lies above 0 and the method's seed mean >= ``min_value``; partly: the method's own interval
    (or its value, one seed) lies above ``min_value``; else not reproduced."""
    metric, control = param(claim, "metric"), param(claim, "control")
    runs = arm(rows)
    if not values(runs, metric):
        return not_run(f"no original-order run reports {metric}")
    a, b = (
        _paired(runs, runs, metric, control)
        if control
        else (values(runs, metric), [0.0] * len(values(runs, metric)))
    )
    if not a:
        return not_run(f"no run reports both {metric} and {control}")
    diff = difference_interval(a, b, paired=True)
    own = t_interval(a)
    floor = float(param(claim, "min_value", 0.0))
    own_ok = own.lo > floor if own.n >= 2 else own.mean > floor
    if diff.n >= 2 and diff.lo > 0 and own.mean >= floor:
        verdict = REPRODUCED
    elif own_ok:
        verdict = PARTLY
    else:
        verdict = NOT
    verdict = cap_for_one_seed(verdict, diff.n)
    controls = _means(rows, param(claim, "controls", {}))
    value = f"{metric} {own.text()}" + (f"; minus {control}: {diff.text()}" if control else "")
    value += f"; controls: {controls}" if controls else ""
    return Verdict({"value": value, **own.as_dict(), "difference": diff.as_dict()}, verdict)


def _substitution(rows: list[dict]) -> list[dict]:
    return [r["substitution"] for r in arm(rows) if isinstance(r.get("substitution"), dict)]


def rule_substitution_above_random(claim: dict, rows: list[dict]) -> Verdict:
    """For every neighbourhood size n, the paired (over seeds) difference between the in-key share of the
    ``derive.rule_name`` substitute (uniform | matched) and the ``derive.control`` (random | random_freq).
    Reproduced: every n's 95% interval lies above 0; partly: the seed mean is above the control at every n
    (or at least at the smallest n)."""
    subs = _substitution(rows)
    if not subs:
        return not_run("no original-order run reports the substitution experiment")
    pick, control = param(claim, "pick", "uniform"), param(claim, "control", "random_freq")
    ns = subs[0]["n"]
    lows, means, parts = [], [], []
    for j, n in enumerate(ns):
        a = [s[pick][j] for s in subs]
        b = [s[control] for s in subs]
        d = difference_interval(a, b, paired=True)
        lows.append(d.lo if d.n >= 2 else math.nan)
        means.append(d.mean)
        parts.append(f"n={n}: {np.mean(a):.3f} vs {np.mean(b):.3f}")
    n_seeds = len(subs)
    if n_seeds >= 2 and all(lo > 0 for lo in lows):
        verdict = REPRODUCED
    elif all(m > 0 for m in means) or means[0] > 0:
        verdict = PARTLY
    else:
        verdict = NOT
    verdict = cap_for_one_seed(verdict, n_seeds)
    others = {k: float(np.mean([s[k] for s in subs])) for k in ("random", "random_freq")}
    value = (
        f"in-key share of the {pick} pick vs {control} (seed means, n={n_seeds} seeds): "
        + ", ".join(parts)
        + f"; random uniform {others['random']:.3f}, random by frequency {others['random_freq']:.3f}"
    )
    return Verdict({"value": value, "difference_lo": lows, "difference_mean": means, "n": n_seeds}, verdict)


def rule_substitution_declines(claim: dict, rows: list[dict]) -> Verdict:
    """The in-key share of the ``derive.pick`` substitute at the smallest n minus at the largest n, paired over
    seeds: reproduced if its 95% interval lies above 0; partly if the seed mean is above 0."""
    subs = _substitution(rows)
    if not subs or len(subs[0]["n"]) < 2:
        return not_run("no original-order run with two or more neighbourhood sizes")
    pick = param(claim, "pick", "uniform")
    first, last = [s[pick][0] for s in subs], [s[pick][-1] for s in subs]
    d = difference_interval(first, last, paired=True)
    verdict = REPRODUCED if d.n >= 2 and d.lo > 0 else PARTLY if d.mean > 0 else NOT
    verdict = cap_for_one_seed(verdict, d.n)
    ns = subs[0]["n"]
    curve = ", ".join(f"n={n}: {np.mean([s[pick][j] for s in subs]):.3f}" for j, n in enumerate(ns))
    value = f"share(n={ns[0]}) - share(n={ns[-1]}) = {d.text()}; {pick} curve: {curve}"
    return Verdict({"value": value, **d.as_dict()}, verdict)


def rule_beats_shuffled(claim: dict, rows: list[dict]) -> Verdict:
    """``derive.metric`` of the original order minus that of the ``derive.control_order`` runs (Welch over
    seeds): reproduced if the 95% interval lies above 0; partly if the mean difference is above 0."""
    metric, other = param(claim, "metric"), param(claim, "control_order", "shuffled_global")
    a, b = values(arm(rows), metric), values(arm(rows, other), metric)
    if not a or not b:
        return not_run(f"needs original and {other} runs reporting {metric}")
    d = difference_interval(a, b)
    verdict = REPRODUCED if d.n >= 2 and d.lo > 0 else PARTLY if d.mean > 0 else NOT
    verdict = cap_for_one_seed(verdict, d.n)
    value = f"original {np.mean(a):.3g} vs {other} {np.mean(b):.3g}: difference {d.text()}"
    return Verdict({"value": value, **d.as_dict()}, verdict)


RULES = {
    "mw2v_rank_correlation": rule_rank_correlation,
    "mw2v_gap_above_control": rule_gap_above_control,
    "mw2v_substitution_above_random": rule_substitution_above_random,
    "mw2v_substitution_declines": rule_substitution_declines,
    "mw2v_beats_shuffled": rule_beats_shuffled,
}
