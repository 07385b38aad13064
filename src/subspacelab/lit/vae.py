"""Variational autoencoders with latent groups trained by Lightning (``disentangle``), on one CPU, one GPU or
several processes.

- ``VAEModule``: one step encodes a batch of (image, factor labels, row index), samples z = μ + σ·ε with ε drawn
  per row from (seed, epoch, row index) (so a row's noise does not depend on its batch, micro-batch or rank),
  decodes and minimises the objective (``disentangle.objectives``). AdamW(lr, weight_decay) with no schedule, as
  the XFactors code; gradient clipping is the Trainer's. ``history``: one row per epoch, the mean of each loss
  part (``lit.history.EpochHistory``).
- ``fit_vae``: trains on an image tensor and its factor labels through ``lit.fit.fit`` in global batches of a
  seeded per-epoch shuffle (``lit.rows.fit_on_rows``).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from subspacelab.lit.history import EpochHistory
from subspacelab.lit.rows import fit_on_rows
from subspacelab.selfsup.views import view_seed


def row_noise(index: Tensor, seed: int, epoch: int, dim: int, like: Tensor) -> Tensor:
    """(len(index), dim) standard normal noise, each row from its own generator seeded by (seed, epoch, row)."""
    g = torch.Generator()
    rows = [torch.randn(dim, generator=g.manual_seed(view_seed(seed, epoch, i))) for i in index.tolist()]
    return torch.stack(rows).to(device=like.device, dtype=like.dtype)


class VAEModule(EpochHistory, L.LightningModule):
    def __init__(self, model, objective, seed: int = 0, lr: float = 1e-3, weight_decay: float = 1e-2):
        super().__init__()
        if lr <= 0 or weight_decay < 0:
            raise ValueError("VAEModule: need lr > 0 and weight_decay >= 0")
        self.model, self.objective = model, objective
        self.seed, self.lr, self.weight_decay = int(seed), float(lr), float(weight_decay)
        self._init_history()

    def training_step(self, batch, batch_idx) -> Tensor:
        x, labels, index = batch
        mu, logvar = self.model.encode(x)
        z = mu + (0.5 * logvar).exp() * row_noise(index, self.seed, self.current_epoch, mu.shape[-1], mu)
        loss, parts = self.objective(
            x, labels, self.model.decode(z), mu, logvar, z, gather=self.trainer.world_size > 1
        )
        self.record(loss=loss, **parts)
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def fit_vae(
    model,
    images: Tensor,
    labels: Tensor,
    objective,
    *,
    batch: int,
    seed: int,
    epochs: int | None = None,
    steps: int = -1,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    clip: float | None = 3.0,
    trainer=None,
    callbacks=(),
    ckpt_path: str | None = None,
    **options,
) -> VAEModule:
    """Train ``model`` (a ``disentangle.model.SplitVAE``) on ``images`` with factor ``labels`` (module doc) in global
    batches of ``batch``, data order and noise from ``seed``. Returns the module."""
    module = VAEModule(model, objective, seed, lr, weight_decay)
    return fit_on_rows(module, images, labels, batch=batch, seed=seed, epochs=epochs, steps=steps, trainer=trainer,
                       callbacks=callbacks, ckpt_path=ckpt_path, gradient_clip_val=clip, **options)  # fmt: skip
