"""Koopman autoencoders trained by Lightning (``dynamics.koopman``), on one CPU, one GPU or several processes.

- ``KoopmanModule``: one step = ``koopman_loss`` on a batch of windows (x_{1..T}, x_{2..T+1}). The operator K is
  the mean of the batch's per-window ridge operators, detached; under DDP it is averaged over the ranks too, so
  every rank uses the one-process operator of the global batch. The MI and entropy terms couple the windows of
  one rank's slice only: W ranks (or W accumulated micro-batches) compute W such terms and average their
  gradients. Adam (``lr``), StepLR (``step_epochs``, ``gamma``) as in the authors' trainer; gradient clipping is
  the Trainer's (``gradient_clip_val``). ``history`` holds one row per epoch (mean of each loss part).
- ``fit_koopman``: trains on (N, T+1, obs) windows through ``lit.fit.fit`` in full global batches of a seeded
  per-epoch shuffle (``lit.batches.EpochShuffle``).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from subspacelab.dynamics.koopman import LossWeights, MLPAutoencoder, koopman_loss
from subspacelab.lit.batches import EpochShuffle, TensorData
from subspacelab.lit.fit import fit
from subspacelab.lit.history import EpochHistory


class KoopmanModule(EpochHistory, L.LightningModule):
    HISTORY_KEY = "koopman_history"

    def __init__(
        self,
        model: MLPAutoencoder,
        weights: LossWeights,
        lr: float = 1e-3,
        step_epochs: int = 20,
        gamma: float = 0.8,
    ):
        super().__init__()
        if lr <= 0 or step_epochs < 1 or not 0 < gamma <= 1:
            raise ValueError("KoopmanModule: need lr > 0, step_epochs >= 1, 0 < gamma <= 1")
        self.model, self.weights = model, weights
        self.lr, self.step_epochs, self.gamma = float(lr), int(step_epochs), float(gamma)
        self._init_history()

    def _mean_over_ranks(self, K: Tensor) -> Tensor:
        """The batch operator averaged over every rank's slice under DDP (each rank's is its slice's mean)."""
        return self.trainer.strategy.reduce(K, reduce_op="mean") if self.trainer.world_size > 1 else K

    def training_step(self, batch, batch_idx) -> Tensor:
        (windows,) = batch
        x, x_next = windows[:, :-1], windows[:, 1:]
        loss, parts, _ = koopman_loss(
            self.model, x, x_next, self.weights, reduce_operator=self._mean_over_ranks
        )
        self.record(loss=loss, **parts)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=self.step_epochs, gamma=self.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def fit_koopman(
    model: MLPAutoencoder,
    windows: Tensor,
    weights: LossWeights,
    *,
    epochs: int | None = None,
    steps: int = -1,
    batch: int = 16,
    seed: int = 0,
    lr: float = 1e-3,
    step_epochs: int = 20,
    gamma: float = 0.8,
    clip: float | None = 1.0,
    trainer=None,
    callbacks=(),
    ckpt_path: str | None = None,
    **options,
) -> KoopmanModule:
    """Train ``model`` on (N, T+1, obs) windows for ``epochs`` epochs (or ``steps`` steps) in global batches of
    ``batch``, data order from ``seed``; ``trainer``: the run's trainer section (placement). Returns the module."""
    module = KoopmanModule(model, weights, lr, step_epochs, gamma)
    data = TensorData(windows, sampler=lambda n, world, rank: EpochShuffle(n, batch, seed, world, rank))
    return fit(
        module,
        data,
        trainer=trainer,
        seed=seed,
        callbacks=callbacks,
        ckpt_path=ckpt_path,
        **{"max_epochs": epochs, "max_steps": steps, "gradient_clip_val": clip, **options},
    )
