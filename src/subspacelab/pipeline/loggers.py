"""Experiment loggers: Weights & Biases (offline unless the user configured W&B) or CSV."""

from __future__ import annotations

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


def make_logger(cfg: DictConfig, run_dir: Path, config: dict, run_id: str):
    name = cfg.logger.name
    if name == "none":
        return False
    if name == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(run_dir), name="csv", version="")
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


def finish_logger(logger) -> None:
    """Close the W&B run so that the next job of a sweep starts its own."""
    if logger and logger.__class__.__name__ == "WandbLogger":
        import wandb

        if wandb.run is not None:
            wandb.finish()
