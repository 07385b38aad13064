"""Train one run: ``python -m subspacelab.train paper=<id> [scale=...] [overrides]`` (Hydra; -m sweeps).

A run writes into ``run_dir``: ``metrics.json`` (results, timing, memory, W&B id, fingerprint),
``model.pt`` (what was trained, plus the seeds that rebuild the rest) and ``config.yaml``. A run
whose metrics.json carries the same config fingerprint is not redone; an interrupted run resumes
from ``checkpoints/last.ckpt``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from subspacelab.config import CONF_DIR, ConfigError, compose, paper_kind, validate
from subspacelab.pipeline.runinfo import finished_run, peak_rss_mib, process_seconds, resolved, write_json
from subspacelab.pipeline.tasks import task_module, task_of


def build(cfg: DictConfig):
    """The data module and the LightningModule of a run (no training), for the run's task."""
    return task_module(task_of(cfg)).build(cfg)


def run(cfg: DictConfig) -> dict:
    """Train, test and record one run; returns its metrics (the stored ones if already finished).
    An experiment paper's run (``paper.kind: experiment``) calls its ``Experiment.run`` instead."""
    if paper_kind(cfg) == "experiment":
        from subspacelab.pipeline.experiment import run_experiment

        return run_experiment(cfg)
    validate(cfg)
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    from subspacelab.lit import RankAgreement, StepTimer
    from subspacelab.pipeline.loggers import finish_logger, make_logger

    run_dir = Path(cfg.run_dir)
    fp, done = finished_run(cfg)
    task = task_module(task_of(cfg))
    if done:
        print(f"[skip] {run_dir} already finished ({task.summary(done)})")
        return done
    if cfg.trainer.num_threads:
        torch.set_num_threads(int(cfg.trainer.num_threads))
    started = time.time()
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    dm, module = build(cfg)

    ckpt_dir = run_dir / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    stamp = ckpt_dir / "fingerprint.txt"
    resume_from = None
    if cfg.resume and last.is_file() and stamp.is_file() and stamp.read_text().strip() == fp:
        resume_from = str(last)
    elif ckpt_dir.exists():
        shutil.rmtree(ckpt_dir, ignore_errors=True)  # a checkpoint of another config is not ours

    config = resolved(cfg)
    run_id = f"{cfg.paper.id}-{cfg.scale.name}-{cfg.run_name}-{fp[:8]}"
    logger = make_logger(cfg, run_dir, config, run_id)
    timer, agreement = StepTimer(), RankAgreement()
    checkpoint = ModelCheckpoint(dirpath=str(ckpt_dir), save_last=True, save_top_k=0)
    trainer_kw = {k: v for k, v in config["trainer"].items() if k != "num_threads"}
    trainer = L.Trainer(
        **trainer_kw,
        logger=logger,
        callbacks=[checkpoint, timer, agreement],
        default_root_dir=str(run_dir),
        use_distributed_sampler=False,  # the data module shards by rank itself (seeded, resumable)
        enable_model_summary=False,
    )
    if trainer.is_global_zero:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fp + "\n")
    trainer.fit(module, datamodule=dm, ckpt_path=resume_from)
    fit_seconds = time.time() - started
    test = trainer.test(module, datamodule=dm, verbose=False)[0]

    metrics = {}
    if trainer.is_global_zero:
        cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
        metrics = {
            "paper": cfg.paper.id,
            "scale": cfg.scale.name,
            "run_name": cfg.run_name,
            "fingerprint": fp,
            "data": cfg.data.name,
            "model": cfg.model.tag,
            "method": cfg.method.name,
            "seed": int(cfg.seed),
            **task.run_metrics(cfg, dm, module, trainer, test),
            "epochs": trainer.current_epoch,
            "global_steps": trainer.global_step,
            "step_seconds": timer.step_seconds,
            "fit_seconds": fit_seconds,
            "process_seconds": process_seconds(),
            "peak_rss_mib": peak_rss_mib(),
            "cuda_peak_mib": cuda_peak,
            "world_size": trainer.world_size,
            "ranks_max_abs_diff": agreement.max_abs_diff,
            "resumed_from": resume_from,
            "wandb_run_id": run_id if cfg.logger.name == "wandb" else None,
            "data_provenance": dm.provenance,
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        torch.save(
            {
                "state": task.trained_state(module),
                "init_seed": int(cfg.seed),
                "projection_seed": cfg.method.get("projection_seed"),
                "fingerprint": fp,
            },
            run_dir / "model.pt",
        )
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(config))
        write_json(run_dir / "metrics.json", metrics)
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        print(f"[done] {run_dir}: {task.summary(metrics)} in {fit_seconds:.1f}s")
    finish_logger(logger)
    return metrics


def _hydra_entry():
    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
    def main(_cfg: DictConfig) -> None:
        # Hydra composed the defaults + the user's overrides; recompose with the paper contract's
        # settings for the chosen scale placed before the user's overrides.
        cfg = compose(HydraConfig.get().overrides.task)
        try:
            run(cfg)
        except ConfigError as err:
            print(f"invalid config: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return main


def main() -> None:
    _hydra_entry()()


if __name__ == "__main__":
    main()
