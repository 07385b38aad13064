"""Derive rules for the ULSAM claims: the counted cost of the compact and inserted variants, and the accuracy
of a variant against the baseline over seeds (Welch interval of the difference)."""

from __future__ import annotations

import math
import statistics

from subspacelab.papers.ulsam.common import LABELS, NET_LABELS, change, cost_table, trained_runs, variant_of
from subspacelab.reporting.stats import difference_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, ladder, not_run, param


def rule_cost(claim: dict, rows: list[dict]) -> Verdict:
    """The replace variant cuts parameters by >= ``min_param_cut`` and MACs by >= ``min_flop_cut``
    (reproduced); both cut at all (partly)."""
    arch, width = param(claim, "arch"), float(param(claim, "width_mult"))
    variants = cost_table(rows).get((arch, width))
    if not variants or not {"none", "replace"} <= set(variants):
        return not_run(f"no cost count of {arch} at width {width}")
    base, compact = variants["none"], variants["replace"]
    dp, dm = change(compact["parameters"], base["parameters"]), change(compact["macs"], base["macs"])
    if -dp >= float(param(claim, "min_param_cut")) and -dm >= float(param(claim, "min_flop_cut")):
        verdict = REPRODUCED
    else:
        verdict = PARTLY if dp < 0 and dm < 0 else NOT
    value = (
        f"{NET_LABELS.get(arch, arch)} x{width}: parameters {dp:+.1%} "
        f"({base['parameters']:,} -> {compact['parameters']:,}), MACs {dm:+.1%} "
        f"({base['macs'] / 1e6:.1f}M -> {compact['macs'] / 1e6:.1f}M at 32x32)"
    )
    return Verdict(
        {"value": value, "parameters_change": dp, "macs_change": dm},
        verdict,
        "counted (torch.utils.flop_counter), not trained; the cut depends on which blocks ULSAM replaces",
    )


def rule_overhead(claim: dict, rows: list[dict]) -> Verdict:
    """The insert variant's largest relative increase in parameters or MACs over every counted net is at most
    ``reproduced`` (reproduced) or ``partly`` (partly)."""
    worst, parts = 0.0, []
    for (arch, width), variants in sorted(cost_table(rows).items()):
        if not {"none", "insert"} <= set(variants):
            continue
        dp = change(variants["insert"]["parameters"], variants["none"]["parameters"])
        dm = change(variants["insert"]["macs"], variants["none"]["macs"])
        worst = max(worst, dp, dm)
        parts.append(f"{NET_LABELS.get(arch, arch)} x{width}: parameters {dp:+.2%}, MACs {dm:+.2%}")
    if not parts:
        return not_run("no cost count of an inserted variant")
    verdict = ladder(
        worst, float(param(claim, "reproduced")), float(param(claim, "partly")), higher_is_better=False
    )
    return Verdict({"value": "; ".join(parts), "max_increase": worst}, verdict, "three ULSAM modules, g = 4")


def rule_accuracy(claim: dict, rows: list[dict]) -> Verdict:
    """Test accuracy of ``variant`` minus the baseline's, Welch 95% interval over the seeds of each arm.

    ``direction: better``: reproduced when the interval lies above 0. ``direction: not_worse``: reproduced when
    its lower bound lies above ``-margin`` (non-inferiority). Either way partly when the mean difference is above
    ``-margin`` but the interval does not show it (this includes one seed per arm), else not reproduced."""
    variant, direction = param(claim, "variant"), param(claim, "direction", "better")
    margin = float(param(claim, "margin"))
    runs = trained_runs(rows)
    acc = {v: [r["test_acc"] for r in runs if variant_of(r) == v] for v in ("none", variant)}
    if not all(acc.values()):
        return not_run(f"needs baseline and {variant} runs")
    iv = difference_interval(acc[variant], acc["none"])
    bound = 0.0 if direction == "better" else -margin
    shown = len(acc[variant]) > 1 and len(acc["none"]) > 1 and iv.lo > bound
    verdict = REPRODUCED if shown else PARTLY if iv.mean > -margin else NOT
    arch = runs[0]["model"].rsplit("-", 1)[0]
    interval = "no interval" if math.isnan(iv.lo) else f"95% Welch interval [{iv.lo:+.2%}, {iv.hi:+.2%}]"
    value = (
        f"{LABELS[variant]} {statistics.fmean(acc[variant]):.2%} vs baseline {statistics.fmean(acc['none']):.2%}: "
        f"{iv.mean:+.2%}, {interval} (n = {len(acc[variant])} vs {len(acc['none'])} seeds, {arch})"
    )
    note = f"test accuracy; bar: interval above {bound:+.2%}" + ("" if shown else ", not met")
    return Verdict({"value": value, "gap": iv.mean, "interval": iv.as_dict()}, verdict, note)


RULES = {"ulsam_cost": rule_cost, "ulsam_overhead": rule_overhead, "ulsam_accuracy": rule_accuracy}
