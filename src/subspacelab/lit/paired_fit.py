"""Training a LightningModule on in-memory (input, target) tensors, the way the image-to-image modules do
(segmentation, super-resolution): batches of a seeded per-epoch shuffle, each DDP rank its slice of every global
batch, through ``lit.fit.fit``, with no validation set (by design, so Lightning's warning about it is silenced;
``quiet`` silences more warnings by message pattern)."""

from __future__ import annotations

import warnings

import lightning as L
import torch


def fit_on_pairs(
    module: L.LightningModule,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    trainer=None,
    quiet: tuple[str, ...] = (),
    **options,
) -> L.LightningModule:
    from subspacelab.lit.batches import EpochShuffle, TensorData
    from subspacelab.lit.fit import fit

    data = TensorData(
        inputs, targets, sampler=lambda n, world, rank: EpochShuffle(n, batch_size, seed, world, rank)
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*`validation_step` but have no `val_dataloader`.*")
        for pattern in quiet:
            warnings.filterwarnings("ignore", message=pattern)
        fit(module, data, trainer=trainer, seed=seed, max_epochs=epochs, limit_val_batches=0, **options)
    return module
