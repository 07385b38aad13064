"""A diffusion denoiser trained by Lightning: the denoising loss of ``diffusion.losses`` for any denoiser module,
on one CPU, one GPU or several processes under DDP (the MoLRG diffusion paper's experiment trains through
``fit_denoiser``).

- ``DenoisingModule``: the loss λ ||D(x_t) − x_0||² with noise levels from a ``NoiseLevels``, drawn from the
  rank's generator (``lit.generators.RankGenerator``: seed + rank, checkpointed), Adam with a cosine-decayed
  learning rate over ``steps``; a denoiser with ``project_gradients`` / ``retract`` (Stiefel-constrained bases)
  has them called around every optimiser step, after DDP has averaged the gradients, so every rank takes the
  same step. ``losses`` holds the training loss of every step (this rank's).
- ``fit_denoiser``: trains a denoiser on the rows of a tensor for ``steps`` steps through ``lit.fit.fit``, in
  global batches drawn with replacement (``lit.batches.DrawnWithReplacement``). On one process it takes the
  steps of a plain Adam loop with the same seed: same rows, same noise, same updates (the loop is the reference
  in tests/integration/test_diffusion_lightning.py).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor, nn

from subspacelab.diffusion.losses import NoiseLevels, NoisyBatch, denoising_loss, noisy_batch
from subspacelab.lit.batches import DrawnWithReplacement, TensorData
from subspacelab.lit.fit import fit
from subspacelab.lit.generators import RankGenerator


class DenoisingModule(RankGenerator, L.LightningModule):
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
        self.losses: list[float] = []

    def noisy(self, x0: Tensor) -> NoisyBatch:
        """The noisy batch of the clean rows x0: noise drawn on the CPU generator, then moved."""
        b = noisy_batch(x0.cpu(), self.levels, self.generator)
        b.x0, b.xt, b.s, b.gamma, b.weight, b.eps = (
            t.to(self.device) for t in (b.x0, b.xt, b.s, b.gamma, b.weight, b.eps)
        )
        return b

    def on_fit_start(self) -> None:
        self.denoiser.train()

    def training_step(self, batch, batch_idx) -> Tensor:
        (x0,) = batch
        loss = denoising_loss(self.denoiser, self.noisy(x0))
        self.losses.append(float(loss.detach()))
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


def denoiser_data(X: Tensor, batch: int, seed: int, steps_per_epoch: int) -> TensorData:
    """The rows of X in global batches of ``batch`` drawn with replacement (stream seeded by ``seed``)."""
    return TensorData(
        X, sampler=lambda n, world, rank: DrawnWithReplacement(n, batch, seed, steps_per_epoch, world, rank)
    )


def loss_history(losses: list[float], steps: int) -> list[float]:
    """The losses of every 1% of the steps and of the last step (the plain reference loop's record)."""
    every = max(1, steps // 100)
    return [v for step, v in enumerate(losses) if step % every == 0 or step == steps - 1]


def fit_denoiser(
    denoiser: nn.Module,
    X: Tensor,
    levels: NoiseLevels,
    steps: int,
    lr: float = 1e-2,
    batch: int = 256,
    seed: int = 0,
    *,
    steps_per_epoch: int | None = None,
    trainer=None,
    callbacks=(),
    ckpt_path: str | None = None,
    **options,
) -> DenoisingModule:
    """Train ``denoiser`` on the rows of X for ``steps`` optimiser steps in global batches of ``batch`` (each of W
    ranks gets batch / W), rows and noise drawn from ``seed``. ``steps_per_epoch`` (default: all the steps in one
    epoch; counted in batches, so with gradient accumulation k it is k times the optimiser steps; it must divide
    them) only marks where a run can stop and resume. ``trainer``: the run's trainer section (placement);
    ``options`` go to the Trainer. Returns the fitted module (``.losses``: every step's loss)."""
    dtype = next(denoiser.parameters()).dtype
    batches = steps * int(options.get("accumulate_grad_batches", 1))
    per_epoch = steps_per_epoch or batches
    if batches % per_epoch:
        raise ValueError(f"steps_per_epoch={per_epoch} must divide the {batches} batches of the run")
    module = DenoisingModule(denoiser, levels, lr, steps, seed)
    return fit(
        module,
        denoiser_data(X.to(dtype), batch, seed, per_epoch),
        trainer=trainer,
        seed=seed,
        callbacks=callbacks,
        ckpt_path=ckpt_path,
        # stopped by epochs, not max_steps: Lightning resumes a max_steps run at an epoch boundary one batch
        # into the wrong epoch
        **{"max_epochs": batches // per_epoch, **options},
    )
