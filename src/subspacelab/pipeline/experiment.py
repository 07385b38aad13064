"""One run of an experiment paper (``paper.kind: experiment``): build the paper's ``Experiment`` from
the config, call ``run(seed, out_dir, n_jobs)``, record its metrics as a training run would.

Like a training run it writes ``metrics.json`` (the experiment's metrics plus its config, seed,
timing, memory and fingerprint) and ``config.yaml`` into ``run_dir``, is skipped when finished with
the same fingerprint, and logs to W&B. The number of worker processes comes from
``$SUBSPACELAB_N_JOBS`` (default: the CPU count, at most 8); results never depend on it.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from subspacelab.config import build_experiment, validate
from subspacelab.configurable import require
from subspacelab.pipeline.runinfo import (
    environment,
    finished_run,
    peak_rss_mib,
    process_seconds,
    resolved,
    write_json,
)


def n_jobs() -> int:
    """Worker processes for an experiment's trials: ``$SUBSPACELAB_N_JOBS``, else the CPU count (<= 8)."""
    env = os.environ.get("SUBSPACELAB_N_JOBS")
    return max(1, int(env)) if env else max(1, min(8, os.cpu_count() or 1))


def experiment_config(cfg: DictConfig) -> dict:
    """The experiment's fields (what it computes with): no ``_target_``, no ``tag``."""
    c = OmegaConf.to_container(cfg.experiment, resolve=True)
    return {k: v for k, v in c.items() if k not in ("_target_", "tag")}


def _log_to_wandb(cfg: DictConfig, run_dir: Path, run_id: str, metrics: dict) -> None:
    import wandb

    from subspacelab.pipeline.loggers import wandb_mode

    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        group=cfg.paper.id,
        name=cfg.run_name,
        id=run_id,
        job_type="experiment",
        tags=[cfg.scale.name],
        dir=str(run_dir),
        mode=wandb_mode(cfg.logger.mode),
        config=resolved(cfg),
        reinit=True,
        resume="allow",
    )
    scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    run.summary.update(scalars)
    points = metrics.get("points") or []
    if points:
        cols = sorted({k for p in points for k in p})
        run.log({"points": wandb.Table(columns=cols, data=[[p.get(c) for c in cols] for p in points])})
    run.finish()


def _is_global_zero() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _refuse_processes(cfg: DictConfig) -> None:
    """An experiment whose ``run`` takes no trainer runs in one process: asking for several is an error, not a
    silent single-process run (hf_dsc: full-batch self-expression couples all n samples in one N x N step)."""
    trainer = cfg.get("trainer") or {}
    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1)
    many = (isinstance(devices, int) and devices > 1) or (
        isinstance(devices, list | tuple) and len(devices) > 1
    )
    require(
        not many and int(nodes or 1) <= 1,
        "trainer",
        f"paper {cfg.paper.id} runs in one process (its experiment does not train through the trainer); "
        "drop trainer=ddp / trainer.devices / trainer.num_nodes for it",
    )


def run_experiment(cfg: DictConfig) -> dict:
    """Run (or skip, if finished with this fingerprint) one experiment; returns its metrics."""
    validate(cfg)
    trains_through_lightning = "trainer" in inspect.signature(build_experiment(cfg.experiment).run).parameters
    if not trains_through_lightning:
        _refuse_processes(cfg)
    run_dir = Path(cfg.run_dir)
    fp, done = finished_run(cfg)
    if done:
        print(f"[skip] {run_dir} already finished")
        return done
    run_dir.mkdir(parents=True, exist_ok=True)
    experiment = build_experiment(cfg.experiment)
    jobs = n_jobs()
    started = time.time()
    # an experiment that trains through Lightning (``run(..., trainer=)``) gets the run's trainer section
    placed = {"trainer": cfg.trainer} if trains_through_lightning else {}
    measured = experiment.run(seed=int(cfg.seed), out_dir=run_dir, n_jobs=jobs, **placed)
    seconds = time.time() - started
    if not _is_global_zero():  # the other ranks of a DDP run record nothing
        return measured
    run_id = f"{cfg.paper.id}-{cfg.scale.name}-{cfg.run_name}-{fp[:8]}"
    metrics = {
        **measured,
        "paper": cfg.paper.id,
        "scale": cfg.scale.name,
        "run_name": cfg.run_name,
        "fingerprint": fp,
        "kind": "experiment",
        "experiment": experiment_config(cfg),
        "seed": int(cfg.seed),
        "fit_seconds": seconds,
        "process_seconds": process_seconds(),
        "peak_rss_mib": peak_rss_mib(),
        "n_jobs": jobs,
        "environment": environment(),
        "wandb_run_id": run_id if cfg.logger.name == "wandb" else None,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    keep = {
        k: v
        for k, v in resolved(cfg).items()
        if k in ("paper", "scale", "seed", "experiment", "run_name", "logger")
    }
    keep["paper"] = {"id": cfg.paper.id, "kind": "experiment"}
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(keep))
    write_json(run_dir / "metrics.json", metrics)
    if cfg.logger.name == "wandb":
        _log_to_wandb(cfg, run_dir, run_id, metrics)
    print(f"[done] {run_dir} in {seconds:.1f}s")
    return metrics
