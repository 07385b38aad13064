"""Full-batch training through Lightning: one optimiser step per training step on a loss over the whole data
set, until a stopping rule fires (HF-DSC's and DSC-Net's stages: the self-expression matrix C couples all n
samples, so a step sees every sample and there is nothing to batch or to shard over ranks).

- ``FullBatchModule``: Adam on ``loss(step)`` (``step`` = optimiser steps already taken) for the parameters of
  ``modules``; after each step it records the loss, asks ``stop.update(loss)`` whether to end, and every
  ``eval_every`` steps (and at the end) records ``evaluate()``. The stopping rule's state, the losses and the
  evaluations are in the checkpoint as plain values, so a resumed stage ends where an uninterrupted one does.
- ``step_loader``: the "data": step indices, one per training step (the loss closure holds the data
  itself), served by a loader with a generator of its own: a DataLoader without one draws a seed from the
  global torch generator every epoch, which would shift any randomness the loss draws from it.
- ``train_full_batch``: one stage, fitted through ``lit.fit.fit`` on one process of the given accelerator.

The stopping rule is any object with ``update(loss) -> bool`` whose state is its dataclass fields (for
example ``clustering.hf_dsc.RelativeErrorStop``); its ``max_steps`` also caps the Trainer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from subspacelab.lit.fit import fit


def step_loader(n: int) -> DataLoader:
    """Step indices 0 .. n−1, one per batch, leaving the global torch generator alone."""
    return DataLoader(range(n), batch_size=None, generator=torch.Generator().manual_seed(0))


class FullBatchModule(L.LightningModule):
    def __init__(
        self,
        modules: Sequence[nn.Module],
        loss: Callable[[int], Tensor],
        stop,
        lr: float,
        evaluate: Callable[[], dict] | None = None,
        eval_every: int = 0,
    ):
        super().__init__()
        if lr <= 0 or eval_every < 0:
            raise ValueError(f"FullBatchModule: need lr > 0 and eval_every >= 0, got {lr}, {eval_every}")
        self.trained = nn.ModuleList(modules)
        self.loss, self.stop, self.lr = loss, stop, float(lr)
        self.evaluate, self.eval_every = evaluate, int(eval_every)
        self.losses: list[float] = []
        self.evals: list[dict] = []

    def training_step(self, batch, batch_idx: int) -> Tensor:
        return self.loss(self.global_step)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.losses.append(float(outputs["loss"].detach()))
        done = self.stop.update(self.losses[-1])
        steps = len(self.losses)
        if self.evaluate is not None and self.eval_every and (steps % self.eval_every == 0 or done):
            self.evals.append({"step": steps, **self.evaluate()})
        if done:
            self.trainer.should_stop = True

    def configure_optimizers(self):
        return torch.optim.Adam(self.trained.parameters(), lr=self.lr)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["full_batch"] = {
            "stop": dataclasses.asdict(self.stop),
            "losses": list(self.losses),
            "evals": [dict(e) for e in self.evals],
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["full_batch"]
        for key, value in state["stop"].items():
            setattr(self.stop, key, value)
        self.losses, self.evals = list(state["losses"]), [dict(e) for e in state["evals"]]


def train_full_batch(
    module: FullBatchModule, accelerator: str = "cpu", ckpt_path: str | None = None, **options
) -> FullBatchModule:
    """Fit ``module`` on one process of ``accelerator`` until its stopping rule fires (or its ``max_steps``);
    ``options`` go to ``lit.fit.fit`` and the Trainer (``callbacks``, or a smaller ``max_steps`` that stops the
    stage early, say to checkpoint it and resume with ``ckpt_path``)."""
    cap = int(module.stop.max_steps)
    data = step_loader(cap)
    placement = {"accelerator": "gpu" if str(accelerator).startswith("cuda") else accelerator, "devices": 1}
    # epochs are not a unit here: a stage stopped by a smaller max_steps ends its "epoch" and resumes in the next
    schedule = {"max_epochs": -1, "max_steps": cap, **options}
    return fit(module, data, trainer=placement, ckpt_path=ckpt_path, **schedule)
