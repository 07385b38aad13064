"""One place that trains a LightningModule for a paper that trains networks inside its experiment.

``fit(module, data, trainer=cfg.trainer, ...)`` builds a ``lightning.Trainer`` from the run's ``trainer`` config
section (conf/trainer/{cpu,gpu,ddp}.yaml), fits, and returns the fitted module (its ``.trainer`` stays
attached). So an experiment's training runs on one CPU, one GPU or several processes under DDP, chosen on the
command line (``trainer=ddp trainer.devices=2``), as a training run's does (``pipeline.train``).

What it takes from the section: where the run executes (``PLACEMENT_KEYS``: accelerator, devices, strategy,
num_nodes, precision). What it ignores: the schedule (max_epochs, max_steps, accumulation, clipping, validation),
which is the experiment's own config and its fingerprint; logging (off unless a logger is passed) and the
progress bar (experiments print their own lines). The data samplers shard over ranks themselves, so Lightning's
distributed sampler is off.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

PLACEMENT_KEYS = ("accelerator", "devices", "strategy", "num_nodes", "precision")
ONE_CPU = {"accelerator": "cpu", "devices": 1, "strategy": "auto", "num_nodes": 1, "precision": "32-true"}


def trainer_settings(section: Mapping | DictConfig | None = None) -> dict[str, Any]:
    """The placement part of a ``trainer`` config section; the keys it lacks (or ``None``) are one CPU process."""
    if isinstance(section, DictConfig):
        section = OmegaConf.to_container(section, resolve=True)
    section = dict(section or {})
    return {k: section.get(k, ONE_CPU[k]) for k in PLACEMENT_KEYS}


def is_distributed(section: Mapping | DictConfig | None) -> bool:
    """Whether these settings may start more than one process (then an experiment runs its trials in one
    process, in order, so that every rank makes the same fits)."""
    s = trainer_settings(section)
    devices = s["devices"]
    if isinstance(devices, list | tuple):
        n = len(devices)
    else:
        n = None if str(devices) == "auto" else int(devices)  # auto / -1: as many as there are
    return n is None or n != 1 or int(s["num_nodes"]) > 1 or "ddp" in str(s["strategy"])


def is_global_zero() -> bool:
    """True outside DDP, and on rank 0 of a DDP run (after its first fit joined the process group)."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def world_size() -> int:
    """Processes of the DDP run this process belongs to (1 outside DDP)."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def make_trainer(
    trainer: Mapping | DictConfig | None = None,
    *,
    callbacks: Sequence[L.Callback] = (),
    logger=False,
    quiet: bool = True,
    **options,
) -> L.Trainer:
    """A ``lightning.Trainer`` placed by the ``trainer`` section; ``options`` (max_epochs, max_steps,
    accumulate_grad_batches, default_root_dir, ...) go to the Trainer as they are. ``quiet``: no Lightning
    info lines (accelerator summary, tips) and no Slurm hint: an experiment fits many times."""
    callbacks = list(callbacks)
    if quiet:
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message=r".*`srun` command is available.*")
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    opts = {
        "logger": logger,
        "enable_checkpointing": any(isinstance(c, ModelCheckpoint) for c in callbacks),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "use_distributed_sampler": False,  # our samplers shard over ranks themselves (seeded, resumable)
        "num_sanity_val_steps": 0,
        **trainer_settings(trainer),
        **options,
    }
    return L.Trainer(callbacks=callbacks, **opts)


def fit(
    module: L.LightningModule,
    data: L.LightningDataModule | torch.utils.data.DataLoader,
    *,
    trainer: Mapping | DictConfig | None = None,
    seed: int | None = None,
    callbacks: Sequence[L.Callback] = (),
    logger=False,
    ckpt_path: str | None = None,
    **options,
) -> L.LightningModule:
    """Train ``module`` on ``data`` (a data module or a train DataLoader) and return it, fitted.

    trainer: the run's ``trainer`` config section (default: one CPU process).
    seed: seeds every global generator first (``L.seed_everything``); modules that draw their own randomness
        from their own generators do not depend on it.
    ckpt_path: resume from this checkpoint. ``options`` go to the Trainer (see ``make_trainer``).
    Under DDP every rank ends with rank 0's buffers (batch-norm statistics), so every rank holds the same network.
    """
    if seed is not None:
        L.seed_everything(int(seed), workers=True, verbose=False)
    t = make_trainer(trainer, callbacks=callbacks, logger=logger, **options)
    if isinstance(data, L.LightningDataModule):
        t.fit(module, datamodule=data, ckpt_path=ckpt_path)
    else:
        t.fit(module, train_dataloaders=data, ckpt_path=ckpt_path)
    if t.world_size > 1:  # DDP broadcasts buffers only at the start of a training forward: end with rank 0's
        for b in module.buffers():
            torch.distributed.broadcast(b.data, src=0)
    return module
