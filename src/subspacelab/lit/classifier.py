"""Fit a classifier through Lightning in one call: the training step of every experiment that trains a plain
classification network inside its run (a backbone, a probe's network, a pretext-task encoder)."""

from __future__ import annotations

import warnings

import torch
from torch import nn


def fit_classifier(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    trainer=None,
    out_dir=None,
    **options,
) -> nn.Module:
    """Train the parameters of ``net`` that require gradients by Adam on the cross-entropy of ``net(x)`` against ``y``, in batches of
    ``batch_size`` of a seeded per-epoch shuffle (under DDP each rank takes its slice of every global batch),
    through ``SupervisedModule`` and ``lit.fit.fit``; returns ``net`` in eval mode. ``trainer``: the run's trainer
    section (one CPU process by default); ``options`` go to ``lit.fit.fit`` (callbacks, ckpt_path, Trainer options).
    The caller seeds and builds ``net`` (its initial weights are its own). Only parameters that require gradients
    train (a frozen backbone, LoRA's frozen weights stay as they are)."""
    from subspacelab.lit.batches import EpochShuffle, TensorData
    from subspacelab.lit.fit import fit
    from subspacelab.lit.supervised import SupervisedModule
    from subspacelab.methods.full import full_space

    module = SupervisedModule(full_space(net), num_classes, optimizer={"name": "adam", "lr": lr})
    data = TensorData(x, y, sampler=lambda n, world, rank: EpochShuffle(n, batch_size, seed, world, rank))
    options = options if out_dir is None else {"default_root_dir": str(out_dir), **options}
    with warnings.catch_warnings():  # no validation set here, by design: Lightning's notice says nothing new
        warnings.filterwarnings("ignore", message=r".*`validation_step` but have no `val_dataloader`.*")
        fit(module, data, trainer=trainer, seed=seed, max_epochs=epochs, limit_val_batches=0, **options)
    return net.eval()
