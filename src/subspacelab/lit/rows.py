"""``fit_on_rows``: train a LightningModule on the rows of in-memory tensors with their row indices appended to
every batch, in global batches of a seeded per-epoch shuffle (``lit.batches.EpochShuffle``), through
``lit.fit.fit``: the shared tail of the ``fit_*`` helpers whose modules draw per-row randomness (augmented views,
reparameterisation noise) from the row index."""

from __future__ import annotations

import lightning as L
import torch

from subspacelab.lit.batches import EpochShuffle, TensorData
from subspacelab.lit.fit import fit


def fit_on_rows(
    module: L.LightningModule,
    *tensors: torch.Tensor,
    batch: int,
    seed: int,
    epochs: int | None = None,
    steps: int = -1,
    trainer=None,
    callbacks=(),
    ckpt_path: str | None = None,
    **options,
) -> L.LightningModule:
    """Fit ``module`` on batches ``(*rows of tensors, row indices)`` for ``epochs`` epochs or ``steps`` steps;
    ``trainer``: the run's trainer section (placement); ``options`` go to the Trainer. Returns the module."""
    index = torch.arange(len(tensors[0]))
    data = TensorData(
        *tensors, index, sampler=lambda n, world, rank: EpochShuffle(n, batch, seed, world, rank)
    )
    return fit(
        module,
        data,
        trainer=trainer,
        seed=seed,
        callbacks=callbacks,
        ckpt_path=ckpt_path,
        **{"max_epochs": epochs, "max_steps": steps, **options},
    )
