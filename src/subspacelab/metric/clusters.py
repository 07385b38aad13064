"""Keeping cluster ids stable across reclusterings (ADSL lib/data/loader/reassignment.py): cluster c trains learner
c, so after a new k-means the new clusters are renamed to match the previous ones."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def match_clusters(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """``current`` relabelled so that its clusters best overlap ``previous``'s: a Hungarian assignment whose cost is
    the L1 distance between the 0/1 membership vectors. New clusters beyond the previous count keep ids from the
    ones left over, in increasing order."""
    previous, current = np.asarray(previous), np.asarray(current)
    k_prev, k_cur = int(previous.max()) + 1, int(current.max()) + 1
    old = np.stack([previous == i for i in range(k_prev)]).astype(np.int64)
    new = np.stack([current == j for j in range(k_cur)]).astype(np.int64)
    cost = np.abs(new[:, None, :] - old[None, :, :]).sum(-1)  # (k_cur, k_prev)
    rows, cols = linear_sum_assignment(cost)
    mapping = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    spare = iter(sorted(set(range(k_cur)) - set(mapping.values())))
    for j in range(k_cur):
        if j not in mapping:
            mapping[j] = next(spare)
    return np.vectorize(mapping.__getitem__)(current)
