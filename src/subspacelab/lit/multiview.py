"""Multi-view self-supervised training through Lightning (``selfsup``), on one CPU, one GPU or several processes.

- ``MultiViewModule``: one step draws N views of every image of the batch (``selfsup.views.RandomViews``, seeded
  by image index and epoch), embeds them by ``projector(encoder(view))`` and minimises the objective on the
  (B, N, d) embeddings (``selfsup.objectives``). Under DDP the objective gathers every rank's embeddings with a
  gradient, so the ranks take the one-process step of the global batch (batch norm aside: its statistics stay
  per rank unless the trainer syncs them). Adam(lr, weight_decay) with no schedule, as the MMCR CIFAR recipe.
  ``history``: one row per epoch, the mean of each loss part.
- ``fit_multiview``: trains on a (n, C, H, W) image tensor through ``lit.fit.fit`` in global batches of a seeded
  per-epoch shuffle (``lit.rows.fit_on_rows``), for ``epochs`` or ``steps``.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor, nn

from subspacelab.lit.history import EpochHistory
from subspacelab.lit.rows import fit_on_rows


class MultiViewModule(EpochHistory, L.LightningModule):
    def __init__(
        self,
        encoder: nn.Module,
        projector: nn.Module,
        objective,
        views,
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
    ):
        super().__init__()
        if lr <= 0 or weight_decay < 0:
            raise ValueError("MultiViewModule: need lr > 0 and weight_decay >= 0")
        self.encoder, self.projector = encoder, projector
        self.objective, self.views = objective, views
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self._init_history()

    def embed(self, views: Tensor) -> Tensor:
        """(B, N, d) projector outputs of (B, N, C, H, W) views."""
        b, n = views.shape[:2]
        return self.projector(self.encoder(views.flatten(0, 1))).view(b, n, -1)

    def training_step(self, batch, batch_idx) -> Tensor:
        images, index = batch
        z = self.embed(self.views(images, index, self.current_epoch))
        loss, parts = self.objective(z, gather=self.trainer.world_size > 1)
        self.record(loss=loss, **parts)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def fit_multiview(
    encoder: nn.Module,
    projector: nn.Module,
    images: Tensor,
    objective,
    views,
    *,
    batch: int,
    seed: int,
    epochs: int | None = None,
    steps: int = -1,
    lr: float = 1e-3,
    weight_decay: float = 1e-6,
    trainer=None,
    callbacks=(),
    ckpt_path: str | None = None,
    **options,
) -> MultiViewModule:
    """Train ``encoder`` and ``projector`` on ``images`` (module doc) in global batches of ``batch`` images,
    data order from ``seed``; ``trainer``: the run's trainer section (placement). Returns the module."""
    module = MultiViewModule(encoder, projector, objective, views, lr, weight_decay)
    return fit_on_rows(module, images, batch=batch, seed=seed, epochs=epochs, steps=steps, trainer=trainer,
                       callbacks=callbacks, ckpt_path=ckpt_path, **options)  # fmt: skip
