"""Derive rules for dynamic_subspace_learners (``reporting.arms``): paired per-seed comparisons of one metric between
arms; whether the dynamic arm grew in every seed; a claim that cannot run here. A run row holds ``results``: one
entry per arm with ``nmi``, ``recall@k`` and, for the metric-learning arms, ``learners`` (before fine-tuning)."""

from __future__ import annotations

from subspacelab.reporting.arms import per_seed, rule_paired
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, not_run, param


def rule_grows(claim: dict, rows: list[dict]) -> Verdict:
    learners = per_seed(rows, param(claim, "arm"), "learners")
    if not learners:
        return not_run("no run of the dynamic arm")
    grown = [s for s, k in learners.items() if k >= 2]
    verdict = REPRODUCED if len(grown) == len(learners) else PARTLY if grown else NOT
    shown = ", ".join(f"seed {s}: {int(k)}" for s, k in sorted(learners.items()))
    return Verdict({"value": f"learners before fine-tuning: {shown}", "learners": learners}, verdict, "")


def rule_not_run(claim: dict, rows: list[dict]) -> Verdict:
    return not_run(param(claim, "reason"))


RULES = {"adsl_paired": rule_paired, "adsl_grows": rule_grows, "adsl_not_run": rule_not_run}
