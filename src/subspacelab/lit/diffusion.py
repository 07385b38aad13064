"""A diffusion denoiser trained by Lightning: the denoising loss of ``diffusion.losses`` for any denoiser
module, so the same model runs on one CPU, one GPU or several under DDP.

- ``DenoisingModule``: the loss λ ||D(x_t) − x_0||² with noise levels from a ``NoiseLevels`` (each rank draws
  its own noise from ``seed + rank``), Adam with a cosine-decayed learning rate over ``steps``; a denoiser with
  ``project_gradients`` / ``retract`` (Stiefel-constrained bases) has them called around every optimiser step,
  after DDP has averaged the gradients, so every rank takes the same step.
- ``fit_denoiser``: trains a denoiser on the rows of a tensor for ``steps`` steps (Trainer options passed on).

The paper experiments train thousands of tiny denoisers in-process with the plain loop
``diffusion.losses.train_denoiser`` (no Trainer start-up per fit); this module is the same objective for a
denoiser worth a GPU or several.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor, nn

from subspacelab.diffusion.losses import NoiseLevels, denoising_loss, noisy_batch


class DenoisingModule(L.LightningModule):
    def __init__(
        self, denoiser: nn.Module, levels: NoiseLevels, lr: float = 1e-2, steps: int = 1000, seed: int = 0
    ):
        super().__init__()
        if lr <= 0 or steps < 1:
            raise ValueError("DenoisingModule: need lr > 0 and steps >= 1")
        self.denoiser, self.levels, self.lr, self.steps, self.seed = (
            denoiser,
            levels,
            float(lr),
            int(steps),
            int(seed),
        )
        self._gen: torch.Generator | None = None

    def on_train_start(self) -> None:
        self._gen = torch.Generator().manual_seed(self.seed + self.global_rank)

    def training_step(self, batch, batch_idx) -> Tensor:
        (x0,) = batch
        b = noisy_batch(x0.cpu(), self.levels, self._gen)  # noise drawn on the CPU generator, then moved
        b.xt, b.x0, b.s, b.gamma, b.weight = (t.to(self.device) for t in (b.xt, b.x0, b.s, b.gamma, b.weight))
        loss = denoising_loss(self.denoiser, b)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_before_optimizer_step(self, optimizer) -> None:
        if hasattr(self.denoiser, "project_gradients"):
            self.denoiser.project_gradients()

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if hasattr(self.denoiser, "retract"):
            self.denoiser.retract()

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.denoiser.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def fit_denoiser(
    denoiser: nn.Module,
    X: Tensor,
    levels: NoiseLevels,
    steps: int,
    lr: float = 1e-2,
    batch: int = 256,
    seed: int = 0,
    callbacks=(),
    **trainer_kwargs,
) -> L.Trainer:
    """Train ``denoiser`` on the rows of X for ``steps`` optimiser steps (minibatches reshuffled every epoch;
    under DDP each rank gets its shard). ``trainer_kwargs`` go to ``L.Trainer`` (accelerator, devices,
    strategy, ...)."""
    dtype = next(denoiser.parameters()).dtype
    data = torch.utils.data.TensorDataset(X.to(dtype))
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=batch,
        shuffle=True,
        drop_last=X.shape[0] >= batch,
        generator=torch.Generator().manual_seed(seed),
    )
    opts = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        **trainer_kwargs,
    }
    trainer = L.Trainer(max_steps=steps, callbacks=list(callbacks), **opts)
    trainer.fit(DenoisingModule(denoiser, levels, lr, steps, seed), train_dataloaders=loader)
    return trainer
