"""ADSL's batches (lib/data/loader/sampler.py; docs/research/dynamic_subspace_learners.md §2.1-2.2): every batch
comes from one cluster, so it trains that cluster's learner, and is class-balanced: ``batch / per_class`` classes
of the cluster drawn at random (with replacement when the cluster has fewer), ``per_class`` images of each taken in
turn from a shuffled list of that class's images in the cluster. Classes with a single image in a cluster are left
out of it (as the code does). The clusters take turns, one batch each.

Unlike the code, an epoch is a fixed number of ``steps`` batches whatever the number of clusters (the code runs K
loaders to the length of the largest), so every arm trains for the same number of steps. Seeded by (seed, epoch):
``set_epoch`` alone restarts an epoch, so a resumed run sees an uninterrupted one's batches; under DDP each rank
yields its slice of every global batch (``lit.batches``)."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler

from subspacelab.lit.batches import _rank_slice


def usable_classes(classes: np.ndarray, clusters: np.ndarray) -> dict[int, dict[int, np.ndarray]]:
    """Per cluster, per class, the rows of that class in that cluster, classes with one image left out."""
    out: dict[int, dict[int, np.ndarray]] = {}
    for c in np.unique(clusters):
        rows = np.flatnonzero(clusters == c)
        per_class = {int(k): rows[classes[rows] == k] for k in np.unique(classes[rows])}
        kept = {k: r for k, r in per_class.items() if len(r) > 1}
        if kept:
            out[int(c)] = kept
    return out


class ClusterBalancedBatches(Sampler[list[int]]):
    def __init__(
        self,
        classes,
        clusters,
        batch: int,
        per_class: int,
        steps: int,
        seed: int,
        world: int = 1,
        rank: int = 0,
    ):
        if batch % per_class or steps < 1:
            raise ValueError(
                f"need batch divisible by per_class and steps >= 1 (batch={batch}, per_class={per_class})"
            )
        self.pools = usable_classes(np.asarray(classes), np.asarray(clusters))
        if not self.pools:
            raise ValueError("no cluster holds a class with two images or more")
        self.batch, self.per_class, self.steps, self.seed, self.epoch = (
            batch,
            per_class,
            int(steps),
            int(seed),
            0,
        )
        self.part = _rank_slice(batch, world, rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        order = {(c, k): rng.permutation(rows) for c, pool in self.pools.items() for k, rows in pool.items()}
        cursor = dict.fromkeys(order, 0)
        turns = sorted(self.pools)
        m = self.batch // self.per_class
        for s in range(self.steps):
            c = turns[s % len(turns)]
            names = sorted(self.pools[c])
            chosen = rng.choice(names, size=m, replace=len(names) < m)
            rows = []
            for k in chosen:
                key, pool = (c, int(k)), order[(c, int(k))]
                take = [pool[(cursor[key] + j) % len(pool)] for j in range(self.per_class)]
                cursor[key] += self.per_class
                rows += take
            yield [int(r) for r in np.asarray(rows)[self.part]]

    def __len__(self) -> int:
        return self.steps
