"""Derive rules for mmcr: paired per-seed comparisons between arms of one metric (``reporting.arms``). A run row
holds ``results``: one entry per arm with ``probe``, ``knn`` and ``geometry`` (a dict of measures), so a metric is
a dotted path (``probe``, ``geometry.radius``)."""

from __future__ import annotations

from subspacelab.reporting.arms import metric_of, per_seed, rule_paired

RULES = {"mmcr_paired": rule_paired}

__all__ = ["RULES", "metric_of", "per_seed"]
