"""Clustering scores and the cost of one clustering call.

- ACC = max over one-to-one maps pi from predicted clusters to classes of (1/N) sum_i [y_i = pi(yhat_i)],
  found by the Hungarian method (``scipy.optimize.linear_sum_assignment``) on the class x cluster
  contingency table. With more clusters than classes the unmatched clusters count as errors.
- NMI = I(y; yhat) / mean(H(y), H(yhat)) (scikit-learn's default arithmetic normalisation, as in the
  S2CAG code).
- ARI: the adjusted Rand index (scikit-learn).

``measure(fn)`` runs a call once and returns its result, wall seconds, process CPU seconds and the peak
of memory allocated during the call (``tracemalloc``: every numpy/scipy array and Python object; BLAS
work buffers are not seen).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

METRICS = ("acc", "nmi", "ari")


def accuracy(labels_true, labels_pred) -> float:
    """Clustering accuracy under the best one-to-one matching of clusters to classes."""
    table = contingency_matrix(np.asarray(labels_true), np.asarray(labels_pred))  # classes x clusters
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def nmi(labels_true, labels_pred) -> float:
    return float(normalized_mutual_info_score(labels_true, labels_pred))


def ari(labels_true, labels_pred) -> float:
    return float(adjusted_rand_score(labels_true, labels_pred))


def scores(labels_true, labels_pred) -> dict:
    """``{"acc": ..., "nmi": ..., "ari": ...}`` of a predicted labelling against the true one."""
    y, yhat = np.asarray(labels_true).ravel(), np.asarray(labels_pred).ravel()
    if y.shape != yhat.shape:
        raise ValueError(f"labels_true has {y.size} entries, labels_pred {yhat.size}")
    return {"acc": accuracy(y, yhat), "nmi": nmi(y, yhat), "ari": ari(y, yhat)}


def measure(fn: Callable[[], object]) -> tuple[object, float, float, int]:
    """``(fn(), wall_seconds, cpu_seconds, peak_bytes)``: peak bytes allocated above the level at the
    start of the call (tracemalloc). Nested inside another ``measure``, it resets the outer peak."""
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        out = fn()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started_here:
            tracemalloc.stop()
    return out, wall, cpu, max(0, int(peak - base))
