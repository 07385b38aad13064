"""The clustering harness: methods that are not trained by gradient descent.

Every method is a plain function: ``fit(X, n_clusters, seed, **hyperparameters) -> labels`` for point
clouds (``baselines.METHODS``) or ``fit(adj, X, n_clusters, seed, **hyperparameters) -> labels`` for
attributed graphs (``GRAPH_METHODS``). ``run_method`` runs one of them by name and returns its scores
(ACC/NMI/ARI), wall and CPU seconds and peak memory, or a refusal when an N x N method would exceed the
memory budget. A paper's ``Experiment`` calls ``run_method``; the pipeline records its metrics, seeds,
W&B run and report as for a trained model.
"""

from __future__ import annotations

import numpy as np

from subspacelab.clustering import baselines, s2cag
from subspacelab.clustering.baselines import MemoryBudgetExceeded
from subspacelab.clustering.metrics import measure, scores

POINT_METHODS = dict(baselines.METHODS)
GRAPH_METHODS = {**s2cag.GRAPH_METHODS, **baselines.GRAPH_METHODS}
# variants: (base method, fixed hyperparameters)
VARIANTS = {
    "s2cag_kmeans": ("s2cag", {"rounding": "kmeans"}),
    "m_s2cag_kmeans": ("m_s2cag", {"rounding": "kmeans"}),
}
DENSE = set(baselines.DENSE_MATRICES)  # methods that hold N x N matrices (and take a memory budget)


def known_methods() -> list[str]:
    return sorted({*POINT_METHODS, *GRAPH_METHODS, *VARIANTS})


def resolve(method: str) -> tuple[str, dict]:
    """(base method name, fixed hyperparameters) of a method or variant name."""
    if method in VARIANTS:
        return VARIANTS[method]
    if method in POINT_METHODS or method in GRAPH_METHODS:
        return method, {}
    raise KeyError(f"unknown clustering method {method!r}; known: {', '.join(known_methods())}")


def fit(
    method: str,
    X,
    n_clusters: int,
    seed: int,
    adj=None,
    memory_budget_bytes: float | None = None,
    **hyperparameters,
) -> np.ndarray:
    """Labels of ``method`` (a graph method needs ``adj``)."""
    base, fixed = resolve(method)
    hp = {**hyperparameters, **fixed}
    if base in DENSE:
        hp["memory_budget_bytes"] = memory_budget_bytes
    if base in GRAPH_METHODS:
        if adj is None:
            raise ValueError(f"{method} clusters an attributed graph: pass adj=")
        return np.asarray(GRAPH_METHODS[base](adj, X, n_clusters, seed, **hp))
    return np.asarray(POINT_METHODS[base](X, n_clusters, seed, **hp))


def run_method(
    method: str,
    X,
    n_clusters: int,
    seed: int,
    labels_true=None,
    adj=None,
    memory_budget_bytes: float | None = None,
    **hyperparameters,
) -> dict:
    """One method on one input: ``{"method", "status": "ok"|"refused", "seconds", "cpu_seconds",
    "peak_mib", "acc", "nmi", "ari", "message"}`` (scores only with ``labels_true``)."""
    row = {"method": method, "hyperparameters": dict(hyperparameters), "n_points": int(X.shape[0])}
    try:
        labels, wall, cpu, peak = measure(
            lambda: fit(
                method,
                X,
                n_clusters,
                seed,
                adj=adj,
                memory_budget_bytes=memory_budget_bytes,
                **hyperparameters,
            )
        )
    except MemoryBudgetExceeded as err:
        return {
            **row,
            "status": "refused",
            "message": str(err),
            "seconds": None,
            "cpu_seconds": None,
            "peak_mib": None,
            "acc": None,
            "nmi": None,
            "ari": None,
        }
    row.update(
        status="ok",
        message="",
        seconds=wall,
        cpu_seconds=cpu,
        peak_mib=peak / 2**20,
        n_clusters_found=int(np.unique(labels).size),
    )
    if labels_true is not None:
        row.update(scores(labels_true, labels))
    return row


__all__ = [
    "GRAPH_METHODS",
    "POINT_METHODS",
    "MemoryBudgetExceeded",
    "fit",
    "known_methods",
    "measure",
    "run_method",
    "scores",
]
