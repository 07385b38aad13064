"""Metrics of an accuracy matrix R (T x T), R[i, j] = accuracy on task j after training task i (entries with
j > i may be NaN or measured; they are not used except in ``forward_transfer``-free summaries below).

- average accuracy after task i: A_i = mean_{j ≤ i} R[i, j]; final average accuracy = A_{T−1};
- average forgetting (Chaudhry et al. 2018): F = mean_{j < T−1} [max_{i ∈ [j, T−2]} R[i, j] − R[T−1, j]];
- backward transfer (Lopez-Paz & Ranzato 2017): BWT = mean_{j < T−1} [R[T−1, j] − R[j, j]];
- learning accuracy (plasticity): mean_j R[j, j], each task right after it was learned.
"""

from __future__ import annotations

import numpy as np


def _R(R) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] < 1:
        raise ValueError("R must be a square T x T matrix")
    return R


def average_accuracy_curve(R) -> list[float]:
    R = _R(R)
    return [float(np.mean(R[i, : i + 1])) for i in range(len(R))]


def final_average_accuracy(R) -> float:
    R = _R(R)
    return float(np.mean(R[-1]))


def average_forgetting(R) -> float:
    R = _R(R)
    T = len(R)
    if T < 2:
        return 0.0
    return float(np.mean([np.max(R[j : T - 1, j]) - R[T - 1, j] for j in range(T - 1)]))


def backward_transfer(R) -> float:
    R = _R(R)
    T = len(R)
    if T < 2:
        return 0.0
    return float(np.mean([R[T - 1, j] - R[j, j] for j in range(T - 1)]))


def learning_accuracy(R) -> float:
    R = _R(R)
    return float(np.mean(np.diag(R)))


def summary(R) -> dict:
    return {
        "final_acc": final_average_accuracy(R),
        "forgetting": average_forgetting(R),
        "bwt": backward_transfer(R),
        "learning_acc": learning_accuracy(R),
        "acc_curve": average_accuracy_curve(R),
    }
