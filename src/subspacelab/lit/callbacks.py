"""Measurements taken during training: step time and peak memory."""

from __future__ import annotations

import time

import lightning as L
import torch


class StepTimer(L.Callback):
    """Median wall time of an optimisation step (forward, backward, update), warm-up steps skipped."""

    def __init__(self, warmup: int = 5):
        self.warmup = warmup
        self.times: list[float] = []
        self._t0 = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._t0)

    @property
    def step_seconds(self) -> float | None:
        t = sorted(self.times[self.warmup :] or self.times)
        return t[len(t) // 2] if t else None


class RankAgreement(L.Callback):
    """After training, measure how far each rank's parameters and buffers are from rank 0's.

    DDP must keep every rank identical, frozen weights and buffers included (SwitchLoRA rewrites its frozen
    W and candidate pools at every switch); ``max_abs_diff`` is 0.0 when it did (None on one process).
    """

    def __init__(self):
        self.max_abs_diff: float | None = None

    def on_train_end(self, trainer, pl_module):
        if trainer.world_size < 2:
            return
        tensors = [*pl_module.parameters(), *pl_module.buffers()]
        flat = torch.cat(
            [
                t.detach().double().flatten()
                for t in tensors
                if t.is_floating_point() or t.dtype == torch.int64
            ]
        )
        gathered = trainer.strategy.all_gather(flat.contiguous())  # (world, n)
        self.max_abs_diff = float((gathered - gathered[0]).abs().max())
