"""Derive rules for the GCR claims. A difference between two heads is judged per dataset with the Welch 95%
interval of the difference over the seeds of each arm (``stats.difference_interval``); the growth of feature
variability with k by the log-log slope over every seed's point (``stats.loglog_slope``)."""

from __future__ import annotations

import math
import statistics

from subspacelab.papers.gcr.common import DATA_LABELS, datasets, tagged, values
from subspacelab.reporting.stats import Interval, difference_interval, loglog_slope
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, holds, not_run, param


def _differences(rows: list[dict], key: str, head: str, k: int | None, reference: str) -> dict[str, tuple]:
    """dataset -> (Interval of head(k) - reference, head's values, reference's values), where both ran."""
    out = {}
    for data in datasets(rows):
        a, b = values(rows, key, data, head, k), values(rows, key, data, reference)
        if a and b:
            out[data] = (difference_interval(a, b), a, b)
    return out


def _shown(iv: Interval) -> bool:
    return iv.n >= 2 and not math.isnan(iv.lo)


def _describe(diffs: dict[str, tuple], name: str, reference: str, what: str) -> str:
    parts = []
    for data, (iv, a, b) in diffs.items():
        interval = f"95% Welch interval [{iv.lo:+.2%}, {iv.hi:+.2%}]" if _shown(iv) else "no interval"
        parts.append(
            f"{DATA_LABELS.get(data, data)}: {name} {statistics.fmean(a):.2%} vs {reference} "
            f"{statistics.fmean(b):.2%}, {iv.mean:+.2%}, {interval} (n = {len(a)} vs {len(b)} seeds)"
        )
    return "; ".join(parts) + f" ({what})"


def _gaps(diffs: dict[str, tuple]) -> dict[str, dict]:
    return {data: iv.as_dict() for data, (iv, _, _) in diffs.items()}


def rule_accuracy(claim: dict, rows: list[dict]) -> Verdict:
    """GCR (k) more accurate than softmax: reproduced when every dataset's interval of the difference lies above
    0; partly when every dataset's mean difference is above ``-partly_within``; else not reproduced."""
    k = int(param(claim, "k"))
    diffs = _differences(tagged(rows, analysis=False), "test_acc", "gcr", k, "softmax")
    if not diffs:
        return not_run("needs softmax and GCR runs on the same dataset")
    above = all(_shown(iv) and iv.lo > 0 for iv, _, _ in diffs.values())
    close = all(iv.mean >= -float(param(claim, "partly_within")) for iv, _, _ in diffs.values())
    value = _describe(diffs, f"GCR k={k}", "softmax", "source test accuracy")
    return Verdict(
        {"value": value, "differences": _gaps(diffs)},
        holds(above, close),
        "same ResNet, optimizer and schedule; only the head differs",
    )


def rule_transfer(claim: dict, rows: list[dict]) -> Verdict:
    """Linear transfer of GCR (k) against softmax.

    ``direction: better``: reproduced when every dataset's interval lies above 0, partly when the mean difference
    is positive on at least one dataset. ``direction: on_par``: reproduced when every dataset's interval lies
    within ``±margin``; not reproduced when some dataset's interval (its mean, without an interval) lies wholly
    outside it; partly otherwise."""
    k = int(param(claim, "k"))
    diffs = _differences(tagged(rows, analysis=True), "transfer_acc", "gcr", k, "softmax")
    if not diffs:
        return not_run(f"no transfer analysis of both softmax and GCR k = {k} nets at this scale")
    ivs = [iv for iv, _, _ in diffs.values()]
    if param(claim, "direction", "better") == "on_par":
        m = float(param(claim, "margin"))
        inside = all(_shown(iv) and -m <= iv.lo and iv.hi <= m for iv in ivs)
        outside = any((iv.lo > m or iv.hi < -m) if _shown(iv) else abs(iv.mean) > m for iv in ivs)
        verdict = REPRODUCED if inside else NOT if outside else PARTLY
    else:
        verdict = holds(all(_shown(iv) and iv.lo > 0 for iv in ivs), any(iv.mean > 0 for iv in ivs))
    value = _describe(diffs, f"GCR k={k}", "softmax", "linear transfer to the held-out classes")
    return Verdict(
        {"value": value, "differences": _gaps(diffs)},
        verdict,
        "logistic regression on frozen features of classes 5-9",
    )


def rule_variability(claim: dict, rows: list[dict]) -> Verdict:
    """Variability grows with k: the slope of log variability on log k over every GCR net's (seed's) point.
    Reproduced when the slope's 95% interval lies above 0 on every dataset where all ``ks`` ran; partly when
    every slope is positive; else not reproduced."""
    ks = [int(k) for k in param(claim, "ks")]
    a = tagged(rows, analysis=True)
    fits, means = {}, {}
    for data in datasets(a):
        per_k = {k: values(a, "variability", data, "gcr", k) for k in ks}
        if all(per_k.values()):
            points = [(k, v) for k in ks for v in per_k[k]]
            fits[data] = loglog_slope([k for k, _ in points], [v for _, v in points])
            means[data] = [statistics.fmean(per_k[k]) for k in ks]
    if not fits:
        return not_run(f"needs GCR nets with every k in {ks} on one dataset")
    shown = all(s.n >= 3 and s.lo > 0 for s in fits.values())
    verdict = holds(shown, all(s.slope > 0 for s in fits.values()))
    value = "; ".join(
        f"{DATA_LABELS.get(d, d)}: "
        + ", ".join(f"k={k}: {v:.3f}" for k, v in zip(ks, means[d], strict=True))
        + f"; log-log slope {fits[d].text()}"
        for d in fits
    )
    return Verdict(
        {"value": value, "curves": means, "slopes": {d: s.as_dict() for d, s in fits.items()}},
        verdict,
        "1 - R^2 of the source test features; means over seeds, slope over every seed's point",
    )


def rule_k1_cosine(claim: dict, rows: list[dict]) -> Verdict:
    """GCR k = 1 and cosine softmax equally accurate: reproduced when every dataset's interval of the difference
    lies within ``±within``; partly when every mean difference is within twice that; else not reproduced."""
    within = float(param(claim, "within"))
    diffs = _differences(tagged(rows, analysis=False), "test_acc", "gcr", 1, "cosine")
    if not diffs:
        return not_run("needs GCR k = 1 and cosine-softmax runs on one dataset")
    ivs = [iv for iv, _, _ in diffs.values()]
    inside = all(_shown(iv) and -within <= iv.lo and iv.hi <= within for iv in ivs)
    close = all(abs(iv.mean) <= 2 * within for iv in ivs)
    value = _describe(diffs, "GCR k=1", "cosine", "source test accuracy")
    return Verdict(
        {"value": value, "differences": _gaps(diffs), "max_abs_diff": max(abs(iv.mean) for iv in ivs)},
        holds(inside, close),
        "the logits are equal up to sign (unit test); trained nets differ by seed, that sign and the "
        "optimizer path",
    )


RULES = {
    "gcr_accuracy": rule_accuracy,
    "gcr_transfer": rule_transfer,
    "gcr_variability": rule_variability,
    "gcr_k1_cosine": rule_k1_cosine,
}
