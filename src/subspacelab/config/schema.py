"""Structured schemas: a wrong type or value fails before any training, naming the key.

Each config group option is checked against the dataclass of what it builds (a model arch, a
method, ...). OmegaConf checks the types; ``__post_init__`` checks the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """The composed configuration is invalid; the message names the key."""


def _require(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


def _one_of(value, valid, key: str) -> None:
    _require(value in valid, key, f"{value!r} is not valid; valid: {', '.join(sorted(valid))}")


@dataclass
class DataSchema:
    name: str
    root: str = "data/raw"
    mirror: str | None = None
    batch_size: int = 128
    eval_batch_size: int = 2000
    train_size: int | None = None
    val_size: int = 5000
    test_size: int | None = None
    split_seed: int = 0
    shuffle_seed: int = 0

    def __post_init__(self):
        from subspacelab.data.vision import DATASETS

        _one_of(self.name, DATASETS, "data.name")
        _require(self.batch_size > 0, "data.batch_size", f"must be > 0, got {self.batch_size}")
        _require(self.val_size >= 0, "data.val_size", f"must be >= 0, got {self.val_size}")
        _require(self.train_size is None or self.train_size > 0, "data.train_size", "must be > 0 or null")


@dataclass
class MLPSchema:
    arch: str
    tag: str
    width: int = 200
    depth: int = 2

    def __post_init__(self):
        _require(self.width > 0, "model.width", f"must be > 0, got {self.width}")
        _require(self.depth >= 0, "model.depth", f"must be >= 0, got {self.depth}")


@dataclass
class LeNetSchema:
    arch: str
    tag: str


@dataclass
class ConvNetSchema:
    arch: str
    tag: str
    channels: int = 32
    hidden: int = 100


MODEL_SCHEMAS = {"mlp": MLPSchema, "lenet": LeNetSchema, "convnet": ConvNetSchema}


@dataclass
class FullSchema:
    name: str
    tag: str


@dataclass
class IntrinsicSchema:
    name: str
    tag: str
    d: int
    projection: str = "fastfood"
    projection_seed: int = 0
    dense_max_mib: float = 1024.0

    def __post_init__(self):
        from subspacelab.subspace.projections import PROJECTIONS

        _require(self.d > 0, "method.d", f"must be a positive integer, got {self.d}")
        _one_of(self.projection, PROJECTIONS, "method.projection")
        _require(self.dense_max_mib > 0, "method.dense_max_mib", "must be > 0")


METHOD_SCHEMAS = {"full": FullSchema, "intrinsic": IntrinsicSchema}


@dataclass
class OptimizerSchema:
    name: str = "adam"
    lr: float = 1e-3
    betas: list[float] | None = None
    eps: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None

    def __post_init__(self):
        _one_of(self.name, {"adam", "adamw", "sgd"}, "train.optimizer.name")
        _require(self.lr > 0, "train.optimizer.lr", f"must be > 0, got {self.lr}")


@dataclass
class TrainSchema:
    optimizer: OptimizerSchema = field(default_factory=OptimizerSchema)
    l2: float = 0.0

    def __post_init__(self):
        _require(self.l2 >= 0, "train.l2", f"must be >= 0, got {self.l2}")


@dataclass
class TrainerSchema:
    accelerator: str = "cpu"
    devices: Any = 1
    strategy: str = "auto"
    num_nodes: int = 1
    max_epochs: int = 1
    precision: str = "32-true"
    accumulate_grad_batches: int = 1
    check_val_every_n_epoch: int = 1
    log_every_n_steps: int = 50
    enable_progress_bar: bool = True
    num_threads: int | None = None

    def __post_init__(self):
        _require(self.max_epochs > 0, "trainer.max_epochs", f"must be > 0, got {self.max_epochs}")
        _require(self.accumulate_grad_batches > 0, "trainer.accumulate_grad_batches", "must be > 0")


@dataclass
class LoggerSchema:
    name: str
    project: str = "subspacelab"
    entity: str | None = None
    mode: str | None = None

    def __post_init__(self):
        _one_of(self.name, {"wandb", "csv", "none"}, "logger.name")
        _require(self.mode in (None, "online", "offline", "disabled"), "logger.mode",
                 f"{self.mode!r} is not one of online, offline, disabled, null")


def _check(section: DictConfig, schema: type, key: str) -> None:
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), section)
        OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        full = f"{key}.{err.full_key}" if getattr(err, "full_key", None) else key
        msg = str(getattr(err, "msg", err)).splitlines()[0]
        raise ConfigError(f"{full}: {msg}") from None


KINDS = ("training", "experiment")


def paper_kind(cfg: DictConfig) -> str:
    """``training`` (a Lightning run: data, model, method, trainer) or ``experiment`` (a paper's own
    ``Experiment.run``: numerical studies with no training loop)."""
    return str(cfg.paper.get("kind") or "training")


def build_experiment(section: DictConfig | dict):
    """The paper's ``Experiment`` dataclass built from the ``experiment`` config (``_target_`` names
    it; ``tag`` only names the run). Its ``__post_init__`` checks the values."""
    import importlib

    c = OmegaConf.to_container(section, resolve=True) if isinstance(section, DictConfig) else dict(section)
    target = c.pop("_target_", None)
    c.pop("tag", None)
    _require(isinstance(target, str) and "." in target, "experiment._target_", "must name a class, e.g. "
             "subspacelab.papers.<id>.Experiment")
    module, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"experiment._target_: cannot import {target!r} ({err})") from None
    try:
        return cls(**c)
    except TypeError as err:  # an unknown or missing field
        raise ConfigError(f"experiment: {err}") from None
    except ValueError as err:  # __post_init__: "<field>: <what is wrong>"
        raise ConfigError(f"experiment.{err}") from None


def _validate_experiment(cfg: DictConfig) -> None:
    _require("experiment" in cfg, "experiment", "an experiment paper needs an experiment config "
             "(defaults: - /experiment@_global_.experiment: <id>)")
    build_experiment(cfg.experiment)


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` naming the first invalid key of a composed run config."""
    try:
        cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    except OmegaConfBaseException as err:
        raise ConfigError(f"{getattr(err, 'full_key', '') or 'config'}: {err}") from None
    _one_of(paper_kind(cfg), KINDS, "paper.kind")
    if paper_kind(cfg) == "experiment":
        _validate_experiment(cfg)
        _check(cfg.logger, LoggerSchema, "logger")
        _require(isinstance(cfg.seed, int), "seed", f"must be an integer, got {cfg.seed!r}")
        _one_of(cfg.scale.name, cfg.paper.get("scales", {}), f"scale (paper {cfg.paper.id} defines)")
        return
    _check(cfg.data, DataSchema, "data")
    arch = cfg.model.get("arch")
    _one_of(arch, MODEL_SCHEMAS, "model.arch")
    _check(cfg.model, MODEL_SCHEMAS[arch], "model")
    name = cfg.method.get("name")
    _one_of(name, METHOD_SCHEMAS, "method.name")
    _check(cfg.method, METHOD_SCHEMAS[name], "method")
    _check(cfg.train, TrainSchema, "train")
    _check(cfg.trainer, TrainerSchema, "trainer")
    _check(cfg.logger, LoggerSchema, "logger")
    _require(isinstance(cfg.seed, int), "seed", f"must be an integer, got {cfg.seed!r}")
    scales = cfg.paper.get("scales", {})
    _one_of(cfg.scale.name, scales, f"scale (paper {cfg.paper.id} defines)")
