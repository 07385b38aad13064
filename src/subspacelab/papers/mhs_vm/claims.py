"""Derive rules for mhs_vm. A run row holds ``results``: one entry per arm with, per dataset, the test scores
(``shapes.dsc``, ``fashion_mnist.iou``, ...) and the parameter counts; the ``threshold`` entry is the best single
intensity threshold of the inputs (a baseline that learns nothing spatial).

- ``mhs_paired``: ``reporting.arms.rule_paired`` on every dataset's ``metric``; every dataset reproduced:
  reproduced; any reproduced or partly: partly; else not reproduced.
- ``mhs_fewer_parameters``: the arm's parameters over the baseline's, below 1.
- ``mhs_beats_threshold``: every arm's seed-mean DSC above the threshold baseline's on every dataset.
"""

from __future__ import annotations

from subspacelab.reporting.arms import _mean, per_seed, rule_paired
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED, Verdict, not_run, param


def _datasets(rows: list[dict]) -> list[str]:
    seen = []
    for row in rows:
        for r in row.get("results", []):
            seen += [k for k, v in r.items() if isinstance(v, dict) and k not in seen]
    return seen


def rule_paired_per_dataset(claim: dict, rows: list[dict]) -> Verdict:
    metric, parts, verdicts, detail = param(claim, "metric"), [], [], {}
    for dataset in _datasets(rows):
        derive = {**claim["derive"], "metric": f"{dataset}.{metric}"}
        v = rule_paired({**claim, "derive": derive}, rows)
        if v.verdict == NOT_RUN:
            continue
        verdicts.append(v.verdict)
        parts.append(f"{dataset}: {v.measured['value']}")
        detail[dataset] = v.measured["comparisons"]
    if not verdicts:
        return not_run(f"no seed ran both arms for {metric}")
    verdict = (
        REPRODUCED if all(v == REPRODUCED for v in verdicts) else PARTLY if set(verdicts) - {NOT} else NOT
    )
    return Verdict({"value": " | ".join(parts), "comparisons": detail}, verdict, "")


def rule_fewer_parameters(claim: dict, rows: list[dict]) -> Verdict:
    arm, baseline = param(claim, "arm"), param(claim, "baseline")
    counts = {}  # dataset -> (the arm's parameters, the baseline's): the same networks on every dataset
    for dataset in _datasets(rows):
        a, b = per_seed(rows, arm, f"{dataset}.parameters"), per_seed(rows, baseline, f"{dataset}.parameters")
        if a and b:
            counts[dataset] = (_mean(a), _mean(b))
    if not counts:
        return not_run(f"no run counted both {arm} and {baseline}")
    ours, theirs = max(counts.values(), key=lambda c: c[0] / c[1])
    ratio = ours / theirs
    value = f"{arm} {int(ours):,} vs {baseline} {int(theirs):,} parameters (ratio {ratio:.3f})"
    return Verdict({"value": value, "ratio": ratio}, REPRODUCED if ratio < 1 else NOT, "")


def rule_beats_threshold(claim: dict, rows: list[dict]) -> Verdict:
    metric, baseline, parts, ok = param(claim, "metric", "dsc"), param(claim, "baseline", "threshold"), [], []
    arms = [r["arm"] for r in (rows[0].get("results", []) if rows else []) if r["arm"] != baseline]
    for dataset in _datasets(rows):
        floor = per_seed(rows, baseline, f"{dataset}.{metric}")
        if not floor:
            continue
        means = {a: _mean(per_seed(rows, a, f"{dataset}.{metric}")) for a in arms}
        ok += [m > _mean(floor) for m in means.values()]
        shown = ", ".join(f"{a} {m:.3f}" for a, m in means.items())
        parts.append(f"{dataset}: {baseline} {_mean(floor):.3f}; {shown}")
    if not ok:
        return not_run(f"no run holds the {baseline} baseline")
    verdict = REPRODUCED if all(ok) else PARTLY if any(ok) else NOT
    return Verdict({"value": f"seed-mean {metric}: " + " | ".join(parts)}, verdict, "")


RULES = {
    "mhs_paired": rule_paired_per_dataset,
    "mhs_fewer_parameters": rule_fewer_parameters,
    "mhs_beats_threshold": rule_beats_threshold,
}
