"""Derive rules for xfactors (``reporting.arms``): paired per-seed comparisons between arms of one metric, and the
seed means of one arm's metrics against thresholds. A run row holds ``results`` (one entry per arm: ``dci_d``,
``dci_c``, ``dci_i``, ``fvs``, ``test_mse``) and ``swaps`` (per XFactors arm, ``moved`` and ``kept`` per factor,
and ``reader_accuracy``); ``swap_scores`` turns the swaps into per-arm metrics (``swap.moved``,
``swap.kept``: the mean over factors of each, divided by the factor reader's accuracy on real images)."""

from __future__ import annotations

import numpy as np

from subspacelab.reporting.arms import rule_mean_at_least, rule_paired


def with_swap_scores(rows: list[dict]) -> list[dict]:
    """The rows with each XFactors arm's result carrying ``swap``: {moved, kept} relative to the readers."""
    out = []
    for row in rows:
        swaps, ceiling = row.get("swaps", {}), np.asarray(row.get("swaps", {}).get("reader_accuracy", []))
        results = []
        for r in row.get("results", []):
            s = swaps.get(r["arm"])
            if s and len(ceiling):
                moved = float(np.mean(np.asarray(s["moved"]) / ceiling))
                kept = float(np.mean([np.mean(np.delete(ceiling, i)) for i in range(len(ceiling))]))
                r = {**r, "swap": {"moved": moved, "kept": float(np.mean(s["kept"])) / kept}}
            results.append(r)
        out.append({**row, "results": results})
    return out


def rule_swap(claim: dict, rows: list[dict]):
    return rule_mean_at_least(claim, with_swap_scores(rows))


RULES = {
    "xfactors_paired": rule_paired,
    "xfactors_mean_at_least": rule_mean_at_least,
    "xfactors_swap": rule_swap,
}
