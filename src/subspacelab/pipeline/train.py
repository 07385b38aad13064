"""Train one run: ``python -m subspacelab.train paper=<id> [scale=...] [overrides]`` (Hydra; -m sweeps).

A run writes into ``run_dir``: ``metrics.json`` (results, timing, memory, W&B id, fingerprint, the
environment), ``model.pt`` (what was trained, plus the seeds that rebuild the rest) and ``config.yaml``.
A run whose metrics.json carries the same config fingerprint is not redone. Until it finishes a run
works in the hidden sibling ``.<run>.partial/``, saving ``checkpoints/last.ckpt`` at the ``checkpoint``
interval; an interrupted run resumes from there.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from subspacelab.config import CONF_DIR, ConfigError, compose, paper_kind, validate
from subspacelab.pipeline.runinfo import (
    abandon,
    adopt,
    environment,
    finished_run,
    peak_rss_mib,
    process_seconds,
    publish,
    resolved,
    work_dir,
    write_json,
)
from subspacelab.pipeline.tasks import task_module, task_of


def build(cfg: DictConfig):
    """The data module and the LightningModule of a run (no training), for the run's task."""
    return task_module(task_of(cfg)).build(cfg)


def checkpoint_interval(cfg: DictConfig, dm) -> tuple[int, int]:
    """``(every_n_epochs, every_n_steps)`` from the ``checkpoint`` section (0: never). A step interval needs a
    data module that can resume in the middle of an epoch (``resume_skip``: the language-model data)."""
    section = cfg.get("checkpoint") or {}
    values = {}
    for key in ("every_n_epochs", "every_n_steps"):
        value = section.get(key)
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        if not ok:
            raise ConfigError(f"checkpoint.{key}: must be an integer >= 0 (0: never) or null, got {value!r}")
        values[key] = value
    epochs = 1 if values["every_n_epochs"] is None else values["every_n_epochs"]
    steps, mid_epoch = values["every_n_steps"], hasattr(dm, "resume_skip")
    if steps is None:
        max_steps = int(cfg.trainer.get("max_steps") or -1)
        steps = max(1, max_steps // 10) if mid_epoch and max_steps > 0 else 0
    elif steps and not mid_epoch:
        raise ConfigError(
            "checkpoint.every_n_steps: this run's data cannot resume in the middle of an epoch; "
            "use checkpoint.every_n_epochs (or set every_n_steps=0)"
        )
    return epochs, steps


def run(cfg: DictConfig) -> dict:
    """Train, test and record one run; returns its metrics (the stored ones if already finished).
    An experiment paper's run (``paper.kind: experiment``) calls its ``Experiment.run`` instead.

    Until it has finished a run works in ``work_dir(run_dir)`` (checkpoints, logs, results); a kill leaves
    only that hidden folder, from whose newest readable checkpoint the next attempt resumes, and a failure
    leaves no run_dir behind. The finished run moves into run_dir, ``metrics.json`` last."""
    run_dir = Path(cfg.run_dir)
    try:
        if paper_kind(cfg) == "experiment":
            from subspacelab.pipeline.experiment import run_experiment

            return run_experiment(cfg)
        return _train(cfg, run_dir)
    except BaseException:
        if _global_rank() == 0:
            abandon(run_dir, work_dir(run_dir))
        raise


def _global_rank() -> int:
    """This process's rank before a Trainer exists (Lightning's launcher and Slurm set these)."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def _train(cfg: DictConfig, run_dir: Path) -> dict:
    validate(cfg)
    import lightning as L
    import torch

    from subspacelab.lit import RankAgreement, StepTimer
    from subspacelab.lit.callbacks import PeriodicCheckpoint, resumable_checkpoint
    from subspacelab.pipeline.loggers import finish_logger, make_logger

    work = work_dir(run_dir)
    fp, done = finished_run(cfg)
    task = task_module(task_of(cfg))
    if done:
        if _global_rank() == 0 and work.is_dir():  # a run killed after its results were in place
            shutil.rmtree(work, ignore_errors=True)
        print(f"[skip] {run_dir} already finished ({task.summary(done)})")
        return done
    if cfg.trainer.num_threads:
        torch.set_num_threads(int(cfg.trainer.num_threads))
    started = time.time()
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    dm, module = build(cfg)
    every_n_epochs, every_n_steps = checkpoint_interval(cfg, dm)

    rank0 = _global_rank() == 0
    if rank0:
        adopt(run_dir, work)
    ckpt_dir = work / "checkpoints"
    resume_from, resumed_at = None, None
    if cfg.resume:
        path, where = resumable_checkpoint(ckpt_dir, fp, repair=rank0)
        resume_from, resumed_at = (str(path), where) if path else (None, None)
    if resume_from is None and rank0 and ckpt_dir.is_dir():
        for (
            stale
        ) in ckpt_dir.iterdir():  # nothing usable: none, or another config's; *.corrupt stay to be seen
            if stale.suffix != ".corrupt":
                stale.unlink()

    config = resolved(cfg)
    run_id = f"{cfg.paper.id}-{cfg.scale.name}-{cfg.run_name}-{fp[:8]}"
    logger = make_logger(cfg, work, config, run_id, resumed_at=resumed_at if rank0 else None)
    timer, agreement = StepTimer(), RankAgreement()
    checkpoint = PeriodicCheckpoint(ckpt_dir, fp, every_n_epochs, every_n_steps)
    trainer_kw = {k: v for k, v in config["trainer"].items() if k != "num_threads"}
    trainer = L.Trainer(
        **trainer_kw,
        logger=logger,
        callbacks=[checkpoint, timer, agreement],
        default_root_dir=str(work),
        enable_checkpointing=False,  # PeriodicCheckpoint writes them (atomically, with the RNG states)
        use_distributed_sampler=False,  # the data module shards by rank itself (seeded, resumable)
        enable_model_summary=False,
    )
    if resume_from:
        print(
            f"[resume] {run_dir} from {resume_from} (epoch {resumed_at['epoch']}, step {resumed_at['global_step']})"
        )
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
            "resumed_at": resumed_at,
            "wandb_run_id": run_id if cfg.logger.name == "wandb" else None,
            "data_provenance": dm.provenance,
            "environment": environment(),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        check_trained(cfg, metrics)  # before anything is published: a zero-step run must not look finished
        torch.save(
            {
                "state": task.trained_state(module),
                "init_seed": int(cfg.seed),
                "projection_seed": cfg.method.get("projection_seed"),
                "fingerprint": fp,
            },
            work / "model.pt",
        )
        (work / "config.yaml").write_text(OmegaConf.to_yaml(config))
        write_json(work / "metrics.json", metrics)
    finish_logger(logger)  # before the move: W&B writes into work/wandb until its run is closed
    if trainer.is_global_zero:
        publish(work, run_dir)
        print(f"[done] {run_dir}: {task.summary(metrics)} in {fit_seconds:.1f}s")
    return metrics


KILL_HOOK_ENV = "SUBSPACELAB_TEST_KILL_AFTER_RUNS"


def _test_kill_hook(cfg: DictConfig) -> None:
    """Test hook (unset in normal use): simulate ``kill -9`` of the whole pipeline at a deterministic point.

    With ``SUBSPACELAB_TEST_KILL_AFTER_RUNS=N``, a run that is about to start while N runs of its paper and
    scale have finished SIGKILLs its own process group (e.g. ``dvc repro`` and everything it started). Under
    DVC the finished runs' stages are then recorded in dvc.lock and the killed one is half way."""
    limit = os.environ.get(KILL_HOOK_ENV)
    if not limit or finished_run(cfg)[1]:
        return
    if len(list(Path(cfg.run_dir).parent.glob("*/metrics.json"))) >= int(limit):
        import signal

        os.killpg(os.getpgrp(), signal.SIGKILL)


def check_trained(cfg: DictConfig, metrics: dict) -> None:
    """A training run that made no optimizer step is an error, not a finished run."""
    if metrics and metrics.get("global_steps") == 0:
        from subspacelab.errors import UserError

        raise UserError(
            f"{cfg.run_dir}: the run made 0 optimizer steps; give it training data and a step budget "
            "(data.train_size, data.val_size, data.batch_size, trainer.max_epochs, trainer.max_steps)"
        )


def _discard_unstarted(cfg: DictConfig) -> None:
    """After a failure: remove the run_dir Hydra created for a run that never started (it holds only
    ``.hydra/``) and the folders above it it left empty, so that a refused config leaves nothing behind."""
    from omegaconf.errors import OmegaConfBaseException

    from subspacelab.pipeline.runinfo import abandon, work_dir

    try:
        run_dir, root = Path(cfg.run_dir), Path(cfg.runs_root)
    except OmegaConfBaseException:
        return  # Hydra could not name it either, so it created nothing
    abandon(run_dir, work_dir(run_dir))
    for folder in run_dir.parents:  # <runs_root>/<paper>/<scale>, not runs_root itself
        if folder == root or root not in folder.parents or not folder.is_dir() or any(folder.iterdir()):
            break
        folder.rmdir()


def _hydra_entry():
    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
    def main(_cfg: DictConfig) -> None:
        # Hydra composed the defaults + the user's overrides; recompose with the paper contract's
        # settings for the chosen scale placed before the user's overrides.
        from subspacelab.errors import user_errors
        from subspacelab.logging_setup import quiet_known_warnings

        with user_errors():  # here, not only around Hydra: Hydra would add a line naming the failed job
            cfg = compose(HydraConfig.get().overrides.task)
            try:
                validate(
                    cfg
                )  # every mistake in the config fails here, before anything is imported or written
                quiet_known_warnings(wandb=cfg.logger.name == "wandb")
                _test_kill_hook(cfg)
                check_trained(cfg, run(cfg))
            except Exception:
                _discard_unstarted(cfg)
                raise

    return main


def main() -> None:
    """``python -m subspacelab.train``: a user error (here: Hydra's composition of the command line) is one line on
    stderr and exit code 2."""
    from subspacelab.errors import user_errors

    with user_errors(hydra=True):
        _hydra_entry()()


if __name__ == "__main__":
    main()
