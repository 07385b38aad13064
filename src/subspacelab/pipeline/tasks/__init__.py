"""What a training run builds and measures, per task. A run's task is ``data.task`` (default
``classification``); each task module has ``build(cfg) -> (datamodule, lightning_module)``,
``run_metrics(cfg, dm, module, trainer, test) -> dict`` and ``trained_state(module) -> dict``."""

from __future__ import annotations

import importlib

TASKS = {
    "classification": "subspacelab.pipeline.tasks.classification",
    "lm": "subspacelab.pipeline.tasks.language_model",
}


def task_of(cfg) -> str:
    return str(cfg.data.get("task") or "classification")


def task_module(task: str):
    if task not in TASKS:
        raise KeyError(f"unknown task {task!r}; valid: {', '.join(sorted(TASKS))}")
    return importlib.import_module(TASKS[task])
