"""Experiment loggers: Weights & Biases (offline unless the user configured W&B) or CSV."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from omegaconf import DictConfig


def wandb_mode(configured: str | None) -> str:
    """``logger.mode`` if set, else $WANDB_MODE, else online with an API key, else offline."""
    if configured:
        return configured
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


def make_logger(cfg: DictConfig, run_dir: Path, config: dict, run_id: str, resumed_at: dict | None = None):
    """The run's logger. A run resumed from a checkpoint taken after ``resumed_at`` (epochs done, optimizer
    steps) continues its CSV log: the rows logged before the checkpoint are kept, later ones (logged again
    by the resumed run) dropped."""
    name = cfg.logger.name
    if name == "none":
        return False
    if name == "csv":
        from lightning.pytorch.loggers import CSVLogger

        logger = CSVLogger(save_dir=str(run_dir), name="csv", version="")
        path = Path(logger.log_dir) / "metrics.csv"
        kept = _rows_before(path, resumed_at) if resumed_at and path.is_file() else []
        if (
            kept
        ):  # Lightning's writer deletes an existing metrics.csv when it starts: write the kept rows back
            logger.experiment.metrics = kept
            logger.experiment.save()
        return logger
    from lightning.pytorch.loggers import WandbLogger

    mode = wandb_mode(cfg.logger.mode)
    os.environ.setdefault("WANDB_SILENT", "true")
    return WandbLogger(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        group=cfg.paper.id,
        name=cfg.run_name,
        id=run_id,
        job_type="train",
        tags=[cfg.scale.name, cfg.method.name],
        save_dir=str(run_dir),
        mode=mode,
        config=config,
        resume="allow",
    )


def _rows_before(path: Path, resumed_at: dict) -> list[dict]:
    """The rows of a CSV log written before a checkpoint: those of finished epochs and earlier steps."""
    epochs, steps = int(resumed_at["epoch"]), int(resumed_at["global_step"])
    with path.open(newline="") as f:
        rows = [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    return [r for r in rows if int(r.get("epoch", epochs)) < epochs or int(r.get("step", steps)) < steps]


def finish_logger(logger) -> None:
    """Close the W&B run so that the next job of a sweep starts its own."""
    if logger and logger.__class__.__name__ == "WandbLogger":
        import wandb

        if wandb.run is not None:
            wandb.finish()
