"""Derive rules for igsp. A run row holds ``results``: one entry per method with its final task-incremental
``accuracy``, ``forgetting``, ``pair_forgetting``, trainable parameter counts and ``stored`` parameters.

- ``igsp_paired``: ``reporting.arms.rule_paired`` (paired t-intervals over seeds; ``lower_is_better`` for counts
  and forgetting; ``margin`` for a non-inferiority bound).
"""

from __future__ import annotations

from subspacelab.reporting.arms import rule_paired

RULES = {"igsp_paired": rule_paired}
