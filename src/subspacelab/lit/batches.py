"""Batches of in-memory tensors for the experiments' Lightning fits: seeded, sharded over DDP ranks, resumable.

Both samplers split every *global* batch of B rows into W consecutive slices of B / W, one per rank, so the
union of the ranks' batches is the one-process batch:

- ``EpochShuffle``: full batches of a fresh permutation every epoch (``np.random.default_rng([seed, epoch])``),
  the incomplete last batch dropped;
- ``DrawnWithReplacement``: ``steps_per_epoch`` batches of rows drawn with replacement from one stream
  ``np.random.default_rng([seed, 3])`` running across epochs (the stream of the plain denoiser loop that
  ``lit.diffusion`` is tested against).

Both restart an epoch from ``set_epoch`` alone (Lightning calls it), so a run resumed at an epoch boundary
sees the batches of an uninterrupted one. ``TensorData`` serves the rows of some tensors through either.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def _rank_slice(batch: int, world: int, rank: int) -> slice:
    if batch % world:
        raise ValueError(f"batch {batch} is not divisible by the {world} DDP ranks")
    per = batch // world
    return slice(rank * per, (rank + 1) * per)


class EpochShuffle(Sampler[list[int]]):
    """This rank's slice of every full global batch of a seeded per-epoch permutation of range(n)."""

    def __init__(self, n: int, batch: int, seed: int, world: int = 1, rank: int = 0):
        if not 1 <= batch <= n:
            raise ValueError(f"need 1 <= batch <= n, got batch={batch}, n={n}")
        self.n, self.batch, self.seed, self.epoch = int(n), int(batch), int(seed), 0
        self.part = _rank_slice(self.batch, world, rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        for i in range(len(self)):
            yield perm[i * self.batch : (i + 1) * self.batch][self.part].tolist()

    def __len__(self) -> int:
        return self.n // self.batch


class DrawnWithReplacement(Sampler[list[int]]):
    """This rank's slice of ``steps_per_epoch`` global batches of rows drawn with replacement from range(n)."""

    def __init__(self, n: int, batch: int, seed: int, steps_per_epoch: int, world: int = 1, rank: int = 0):
        if n < 1 or batch < 1 or steps_per_epoch < 1:
            raise ValueError("need n, batch, steps_per_epoch >= 1")
        self.n, self.batch, self.seed, self.steps, self.epoch = (
            int(n),
            int(batch),
            int(seed),
            steps_per_epoch,
            0,
        )
        self.part = _rank_slice(self.batch, world, rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, 3])
        for _ in range(self.epoch * self.steps):  # the batches of the earlier epochs, drawn the same way
            rng.integers(0, self.n, size=self.batch)
        for _ in range(self.steps):
            yield rng.integers(0, self.n, size=self.batch)[self.part].tolist()

    def __len__(self) -> int:
        return self.steps


class _Rows(Dataset):
    """Indexing with a list of row indices returns the tuple of those rows of every tensor (one batch)."""

    def __init__(self, tensors: tuple[torch.Tensor, ...]):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, idx):
        return tuple(t[idx] for t in self.tensors)


class TensorData(L.LightningDataModule):
    """The rows of ``tensors`` in batches of ``sampler(n, world, rank)`` (world and rank of the fitting Trainer)."""

    def __init__(self, *tensors: torch.Tensor, sampler: Callable[[int, int, int], Sampler]):
        super().__init__()
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("TensorData: one or more tensors with the same number of rows")
        self.rows, self.sampler = _Rows(tensors), sampler

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        return DataLoader(self.rows, sampler=self.sampler(len(self.rows), world, rank), batch_size=None)


class SteppedShuffle(Sampler[list[int]]):
    """This rank's slice of ``steps_per_epoch`` global batches per epoch from a stream of full batches of seeded
    permutations (pass p: ``np.random.default_rng([seed, p])``, its incomplete last batch dropped) running across
    epochs: epoch e holds global batches e·steps_per_epoch ... (e+1)·steps_per_epoch − 1 of the stream, so an
    epoch need not be a pass over the data and ``set_epoch`` alone restarts it. ``accumulate`` = k splits every
    global batch into k consecutive micro-batches of batch / k (each then sliced over the ranks): k accumulated
    micro-batches hold exactly the rows of one unsplit batch."""

    def __init__(
        self,
        n: int,
        batch: int,
        seed: int,
        steps_per_epoch: int,
        world: int = 1,
        rank: int = 0,
        accumulate: int = 1,
    ):
        if not 1 <= batch <= n or steps_per_epoch < 1 or accumulate < 1:
            raise ValueError(f"need 1 <= batch <= n, steps_per_epoch, accumulate >= 1 (batch={batch}, n={n})")
        if batch % accumulate:
            raise ValueError(f"batch {batch} is not divisible by accumulate={accumulate}")
        self.n, self.batch, self.seed, self.steps, self.k, self.epoch = (
            int(n),
            int(batch),
            int(seed),
            int(steps_per_epoch),
            int(accumulate),
            0,
        )
        self.part = _rank_slice(self.batch // self.k, world, rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        per_pass, micro = self.n // self.batch, self.batch // self.k
        cached, perm = -1, None
        for s in range(self.epoch * self.steps, (self.epoch + 1) * self.steps):
            p, i = divmod(s, per_pass)
            if p != cached:
                cached, perm = p, np.random.default_rng([self.seed, p]).permutation(self.n)
            rows = perm[i * self.batch : (i + 1) * self.batch]
            for j in range(self.k):
                yield rows[j * micro : (j + 1) * micro][self.part].tolist()

    def __len__(self) -> int:
        return self.steps * self.k
