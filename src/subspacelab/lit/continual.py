"""Continual learning trained by Lightning: one fit per stage of a task stream (pre-training, each task, the joint
upper bound), on one CPU, one GPU or several processes under DDP (``continual.harness`` runs the outer loop over
tasks and calls the methods' task-boundary hooks between fits).

- ``ContinualModule``: trains ``net`` on ``objective(net, batch)`` with the optimizers it is given (the method's
  optimizer of the trained weight, e.g. CoSO's projected optimizer, and the current head's AdamW), by manual
  optimisation: ``accumulate`` micro-batches are backpropagated (loss / accumulate each), then every optimizer
  steps. Under DDP the gradients are all-reduced during the backward pass, so an optimizer that derives a basis from
  the gradient (CoSO's SVD, its sketch and history) sees the same averaged gradient on every rank and every rank
  projects the same way. ``history``: one row per epoch (mean loss over its optimizer steps and over ranks);
  ``last_loss``: the loss of the last step (mean over its micro-batches and ranks). ``progress`` (a callable)
  adds the outer loop's state to every checkpoint under ``"continual"``; the optimizers' states (CoSO's projector,
  sketch, history and moments) are in Lightning's ``optimizer_states``, the network's (Share's bases) in its
  ``state_dict``: a run resumed from a checkpoint continues as the uninterrupted one.
- ``stepped_data`` / ``epoch_data``: the rows of some tensors in seeded, rank-sharded, epoch-resumable batches
  (``lit.batches.SteppedShuffle`` / ``EpochShuffle``); ``fit_continual`` fits a module on them through
  ``lit.fit.fit``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import Tensor, nn

from subspacelab.lit.batches import EpochShuffle, SteppedShuffle, TensorData
from subspacelab.lit.fit import fit


class ContinualModule(L.LightningModule):
    def __init__(
        self,
        net: nn.Module,
        objective: Callable[[nn.Module, tuple], Tensor],
        optimizers: Sequence[torch.optim.Optimizer],
        accumulate: int = 1,
        progress: Callable[[], dict] | None = None,
    ):
        super().__init__()
        if accumulate < 1 or not optimizers:
            raise ValueError("ContinualModule: need accumulate >= 1 and at least one optimizer")
        self.net, self.objective = net, objective
        self._given = list(optimizers)
        self.accumulate = int(accumulate)
        self.progress = progress
        self.automatic_optimization = False  # the method's optimizer steps itself (CoSO projects in its step)
        self.history: list[dict] = []
        self.last_loss = math.nan
        self._micro: list[Tensor] = []
        self._steps: list[Tensor] = []

    def on_fit_start(self) -> None:
        self.net.train()

    def training_step(self, batch, batch_idx) -> None:
        loss = self.objective(self.net, batch)
        self.manual_backward(loss / self.accumulate)  # DDP all-reduces the gradients here
        self._micro.append(loss.detach())
        if (batch_idx + 1) % self.accumulate == 0:
            opts = self.optimizers()
            opts = opts if isinstance(opts, list) else [opts]
            for opt in opts:  # after the all-reduce: every rank takes the same step
                opt.step()
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            self._steps.append(torch.stack(self._micro).mean())
            self._micro = []
        if batch_idx + 1 == self.trainer.num_training_batches:
            self._end_epoch()

    def _end_epoch(self) -> None:
        """The epoch's row, at its last step: before any callback's ``on_train_epoch_end`` (which Lightning calls
        before the module's), so that a checkpoint written there holds it."""
        steps = torch.stack(self._steps).double()
        stats = torch.stack([steps.mean(), steps[-1]])
        if self.trainer.world_size > 1:
            stats = self.trainer.strategy.reduce(stats, reduce_op="mean")
        mean, last = (float(v) for v in stats)
        self.history.append({"epoch": self.current_epoch + 1, "loss": mean})
        self.last_loss = last
        self._steps = []

    def configure_optimizers(self):
        return self._given

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["continual_history"] = [dict(row) for row in self.history]
        checkpoint["continual_last_loss"] = float(self.last_loss)
        if self.progress is not None:
            checkpoint["continual"] = self.progress()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = [dict(row) for row in checkpoint.get("continual_history", [])]
        self.last_loss = float(checkpoint.get("continual_last_loss", math.nan))


def stepped_data(
    tensors: Sequence[Tensor], batch: int, seed: int, steps_per_epoch: int, accumulate: int = 1
) -> TensorData:
    """The rows of ``tensors`` in global batches of ``batch`` from a stream of seeded permutations,
    ``steps_per_epoch`` optimiser steps per epoch, each split into ``accumulate`` micro-batches."""
    return TensorData(
        *tensors,
        sampler=lambda n, world, rank: SteppedShuffle(
            n, batch, seed, steps_per_epoch, world, rank, accumulate
        ),
    )


def epoch_data(tensors: Sequence[Tensor], batch: int, seed: int) -> TensorData:
    """The rows of ``tensors`` in full global batches of ``batch`` of a fresh seeded permutation every epoch."""
    return TensorData(*tensors, sampler=lambda n, world, rank: EpochShuffle(n, batch, seed, world, rank))


def fit_continual(
    module: ContinualModule,
    data: TensorData,
    epochs: int,
    *,
    seed: int,
    trainer=None,
    callbacks=(),
    ckpt_path: str | None = None,
    **options,
) -> ContinualModule:
    """Train ``module`` on ``data`` for ``epochs`` epochs through ``lit.fit.fit`` (``trainer``: the run's trainer
    section; ``ckpt_path``: resume from this checkpoint). Returns the fitted module."""
    if epochs < 1:
        raise ValueError(f"fit_continual: epochs must be >= 1, got {epochs}")
    return fit(
        module,
        data,
        trainer=trainer,
        seed=seed,
        callbacks=callbacks,
        ckpt_path=ckpt_path,
        **{"max_epochs": int(epochs), **options},
    )
