"""Derive rules for eigenshield. A run row holds ``results``: one entry per defence with its ``clean_accuracy`` and,
per attack (``fgsm``, ``pgd`` crafted on the undefended classifier, ``pgd_adaptive`` crafted through the defence),
``asr_<attack>`` and ``robust_accuracy_<attack>``; ``filter`` holds the spectrum's spikes and the causal directions.

- ``shield_paired``: ``reporting.arms.rule_paired`` (paired t-intervals over seeds; ``lower_is_better`` for ASR).
"""

from __future__ import annotations

from subspacelab.reporting.arms import rule_paired

RULES = {"shield_paired": rule_paired}
