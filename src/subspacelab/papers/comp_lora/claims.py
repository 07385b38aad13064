"""Derive rules for comp_lora. A run row holds ``results``: one entry per arm with its few-shot test ``accuracy``,
its MNIST ``retention`` through the old head, ``forgetting`` and, for comp_lora, ``principal_leak``.

- ``comp_paired``: ``reporting.arms.rule_paired`` (paired t-intervals over seeds).
- ``comp_leak_below``: the largest ``principal_leak`` of ``arm`` over the seeds below ``derive.tolerance``.
"""

from __future__ import annotations

from subspacelab.reporting.arms import per_seed, rule_paired
from subspacelab.reporting.verdict import NOT, REPRODUCED, Verdict, not_run, param


def rule_leak_below(claim: dict, rows: list[dict]) -> Verdict:
    arm, tolerance = param(claim, "arm"), float(param(claim, "tolerance"))
    leaks = per_seed(rows, arm, "principal_leak")
    if not leaks:
        return not_run(f"no run reports {arm}'s principal_leak")
    worst = max(leaks.values())
    value = f"largest (|U_p^T dW| + |dW V_p|) / |dW| over n = {len(leaks)} seeds: {worst:.1e}"
    return Verdict({"value": value, "max": worst}, REPRODUCED if worst < tolerance else NOT, "")


RULES = {"comp_paired": rule_paired, "comp_leak_below": rule_leak_below}
