"""Structured schemas: a wrong type or value fails before any training, naming the key.

Each config group option is checked against the dataclass of what it builds (a model arch, a
method, ...). OmegaConf checks the types; ``__post_init__`` checks the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from subspacelab.configurable import ConfigError, locate, options
from subspacelab.configurable import one_of as _one_of
from subspacelab.configurable import require as _require

__all__ = ["ConfigError", "build_experiment", "paper_kind", "validate"]


def _positive(value, key: str, null_ok: bool = False) -> None:
    """An integer count or size: > 0 (or null where ``null_ok``)."""
    if value is None and null_ok:
        return
    _require(value is not None and value > 0, key, f"must be > 0{' or null' if null_ok else ''}, got {value}")


def _seed(value: int, key: str) -> None:
    _require(0 <= value < 2**32, key, f"must be in [0, 2**32), got {value}")


# What Lightning's Trainer accepts (its accelerator and precision names)
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = (
    *("64-true", "64", "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16", "16-true", "bf16-true"),
    *("transformer-engine", "transformer-engine-float16"),
)


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
    classes: list[int] | None = None

    def __post_init__(self):
        from subspacelab.data.vision import DATASETS, check_classes

        _one_of(self.name, DATASETS, "data.name")
        try:
            check_classes(self.classes, DATASETS[self.name])
        except ValueError as err:
            raise ConfigError(str(err)) from None
        _positive(self.batch_size, "data.batch_size")
        _positive(self.eval_batch_size, "data.eval_batch_size")
        _positive(self.train_size, "data.train_size", null_ok=True)
        _require(self.val_size >= 0, "data.val_size", f"must be >= 0, got {self.val_size}")
        _positive(self.test_size, "data.test_size", null_ok=True)
        _seed(self.split_seed, "data.split_seed")
        _seed(self.shuffle_seed, "data.shuffle_seed")


@dataclass
class TextDataSchema:
    name: str
    task: str = "lm"
    id: str | None = None
    source: str | None = None
    root: str = "data/raw"
    mirror: str | None = None
    tokenizer: str = "bpe"
    vocab_size: int = 2048
    seq_len: int = 128
    batch_size: int = 32
    eval_batch_size: int = 64
    val_fraction: float = 0.1
    train_tokens: int | None = None
    val_tokens: int | None = None
    shuffle_seed: int = 0
    split_seed: int = 0

    def __post_init__(self):
        from subspacelab.data.corpora import CORPORA, HF_PREFIX

        corpus = self.source or self.name
        _require(
            corpus in CORPORA or corpus.startswith(HF_PREFIX),
            "data.source" if self.source else "data.name",
            f"{corpus!r} is not valid; valid: {', '.join(CORPORA)}, or {HF_PREFIX}<dataset>[:<config>]",
        )
        _one_of(self.tokenizer, {"bpe", "byte"}, "data.tokenizer")
        _positive(self.vocab_size, "data.vocab_size")
        _positive(self.seq_len, "data.seq_len")
        _positive(self.batch_size, "data.batch_size")
        _positive(self.eval_batch_size, "data.eval_batch_size")
        _require(
            0 < self.val_fraction < 1, "data.val_fraction", f"must be in (0, 1), got {self.val_fraction}"
        )
        _positive(self.train_tokens, "data.train_tokens", null_ok=True)
        _positive(self.val_tokens, "data.val_tokens", null_ok=True)
        _seed(self.split_seed, "data.split_seed")
        _seed(self.shuffle_seed, "data.shuffle_seed")


@dataclass
class OptimizerSchema:
    name: str = "adam"
    lr: float = 1e-3
    betas: list[float] | None = None
    eps: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None

    def __post_init__(self):
        _one_of(self.name, {"adam", "adamw", "sgd", "grassmann_sgd"}, "train.optimizer.name")
        _require(self.lr > 0, "train.optimizer.lr", f"must be > 0, got {self.lr}")
        _require(
            self.betas is None or (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)),
            "train.optimizer.betas",
            f"must be two values in [0, 1) or null, got {self.betas}",
        )
        _require(
            self.eps is None or self.eps > 0, "train.optimizer.eps", f"must be > 0 or null, got {self.eps}"
        )
        for key in ("momentum", "weight_decay"):
            value = getattr(self, key)
            _require(
                value is None or value >= 0, f"train.optimizer.{key}", f"must be >= 0 or null, got {value}"
            )


@dataclass
class ScheduleSchema:
    warmup_steps: int = 0
    min_lr_ratio: float = 1.0

    def __post_init__(self):
        _require(self.warmup_steps >= 0, "train.schedule.warmup_steps", "must be >= 0")
        _require(0 <= self.min_lr_ratio <= 1, "train.schedule.min_lr_ratio", "must be in [0, 1]")


@dataclass
class TrainSchema:
    optimizer: OptimizerSchema = field(default_factory=OptimizerSchema)
    l2: float = 0.0
    schedule: ScheduleSchema = field(default_factory=ScheduleSchema)

    def __post_init__(self):
        _require(self.l2 >= 0, "train.l2", f"must be >= 0, got {self.l2}")


@dataclass
class TrainerSchema:
    accelerator: str = "cpu"
    devices: Any = 1
    strategy: str = "auto"
    num_nodes: int = 1
    max_epochs: int = 1
    max_steps: int = -1
    precision: str = "32-true"
    accumulate_grad_batches: int = 1
    check_val_every_n_epoch: int = 1
    val_check_interval: int | None = None
    gradient_clip_val: float | None = None
    log_every_n_steps: int = 50
    enable_progress_bar: bool = True
    num_threads: int | None = None

    def __post_init__(self):
        _one_of(self.accelerator, ACCELERATORS, "trainer.accelerator")
        _require(
            self.devices == "auto"
            or (isinstance(self.devices, int) and (self.devices > 0 or self.devices == -1))
            or (isinstance(self.devices, list | tuple) and len(self.devices) > 0)
            or (isinstance(self.devices, str) and self.devices.replace(",", "").strip().isdigit()),
            "trainer.devices",
            f"must be a count > 0, -1 (all), auto, or a list of device ids; got {self.devices!r}",
        )
        _positive(self.num_nodes, "trainer.num_nodes")
        _positive(self.max_epochs, "trainer.max_epochs")
        _require(
            self.max_steps == -1 or self.max_steps > 0,
            "trainer.max_steps",
            f"must be > 0, or -1 for no step limit (trainer.max_epochs decides); got {self.max_steps}",
        )
        _one_of(self.precision, PRECISIONS, "trainer.precision")
        _positive(self.accumulate_grad_batches, "trainer.accumulate_grad_batches")
        _positive(self.check_val_every_n_epoch, "trainer.check_val_every_n_epoch")
        _positive(self.val_check_interval, "trainer.val_check_interval", null_ok=True)
        _require(
            self.gradient_clip_val is None or self.gradient_clip_val > 0,
            "trainer.gradient_clip_val",
            f"must be > 0 or null (no clipping), got {self.gradient_clip_val}",
        )
        _positive(self.log_every_n_steps, "trainer.log_every_n_steps")
        _positive(self.num_threads, "trainer.num_threads", null_ok=True)


@dataclass
class LoggerSchema:
    name: str
    project: str = "subspacelab"
    entity: str | None = None
    mode: str | None = None

    def __post_init__(self):
        _one_of(self.name, {"wandb", "csv", "none"}, "logger.name")
        _require(
            self.mode in (None, "online", "offline", "disabled"),
            "logger.mode",
            f"{self.mode!r} is not one of online, offline, disabled, null",
        )


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
    _require(
        isinstance(target, str) and "." in target,
        "experiment._target_",
        "must name a class, e.g. subspacelab.papers.<id>.Experiment",
    )
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
    _require(
        "experiment" in cfg,
        "experiment",
        "an experiment paper needs an experiment config (defaults: - /experiment@_global_.experiment: <id>)",
    )
    build_experiment(cfg.experiment)


TASKS = ("classification", "lm")


def _methods_for(task: str) -> list[str]:
    """The methods whose config names a builder for ``task`` (``conf/method/*.yaml``: ``targets``)."""
    import yaml

    from subspacelab.config.compose import CONF_DIR

    found = []
    for f in sorted((CONF_DIR / "method").glob("*.yaml")):
        cfg = yaml.safe_load(f.read_text()) or {}
        if task in (cfg.get("targets") or {}):
            found.append(f.stem)
    return found


def _check_builder(section: DictConfig, key: str, locator: str, task: str, name_key: str) -> str:
    """Check a model or method config against the schema its builder declares (the builder named by
    ``locator``, e.g. ``_target_``), that the builder serves ``task`` and is the one ``name_key`` names."""
    name = section.get(name_key)
    target = OmegaConf.select(section, locator)
    _require(
        target is not None,
        f"{key}.{locator}",
        f"{key} {name!r} does not apply to a {task} run; valid: {', '.join(_methods_for(task))}",
    )
    builder = locate(target, f"{key}.{locator}")
    _require(
        builder.task == task, f"{key}.{locator}", f"{target} serves {builder.task} runs, not {task} runs"
    )
    _require(
        builder.registered_name == name,
        f"{key}.{name_key}",
        f"{name!r} does not match its builder {target}, registered as {builder.registered_name!r}",
    )
    _check(
        OmegaConf.create(options(OmegaConf.to_container(section, resolve=True))), builder.config_schema, key
    )
    return name


def top_level_keys(conf_dir=None) -> frozenset[str]:
    """The keys a run config may have at its top level: those of ``conf/config.yaml`` and the config groups
    (the folders of ``conf/``). Hydra accepts any ``+key=value``; a misspelt one would silently do nothing."""
    from pathlib import Path

    import yaml

    if conf_dir is None:
        from subspacelab.config.compose import CONF_DIR as conf_dir
    conf_dir = Path(conf_dir)
    own = yaml.safe_load((conf_dir / "config.yaml").read_text()) or {}
    groups = {p.name for p in conf_dir.iterdir() if p.is_dir()}
    return frozenset((set(own) | groups) - {"defaults", "hydra"})


def _check_top_level(cfg: DictConfig) -> None:
    allowed = top_level_keys()
    for key in cfg:
        _require(
            key in allowed,
            str(key),
            f"not a config key; check the spelling (top-level keys: {', '.join(sorted(allowed))})",
        )


def validate(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` naming the first invalid key of a composed run config."""
    try:
        cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    except OmegaConfBaseException as err:
        raise ConfigError(f"{getattr(err, 'full_key', '') or 'config'}: {err}") from None
    _check_top_level(cfg)
    _one_of(paper_kind(cfg), KINDS, "paper.kind")
    if paper_kind(cfg) == "experiment":
        _validate_experiment(cfg)
        _check(cfg.logger, LoggerSchema, "logger")
        _require(isinstance(cfg.seed, int), "seed", f"must be an integer, got {cfg.seed!r}")
        _one_of(cfg.scale.name, cfg.paper.get("scales", {}), f"scale (paper {cfg.paper.id} defines)")
        return
    task = str(cfg.data.get("task") or "classification")
    _one_of(task, TASKS, "data.task")
    _check(cfg.data, TextDataSchema if task == "lm" else DataSchema, "data")
    arch = _check_builder(cfg.model, "model", "_target_", task, "arch")
    _check_builder(cfg.method, "method", f"targets.{task}", task, "name")
    if task == "lm":
        _require(
            int(cfg.trainer.max_steps) > 0,
            "trainer.max_steps",
            "a language-model run needs a step budget "
            "(its schedule and SwitchLoRA's switching frequency are functions of it)",
        )
        _require(
            cfg.train.optimizer.name in ("adam", "adamw"),
            "train.optimizer.name",
            f"language-model runs train with AdamW; got {cfg.train.optimizer.name!r}",
        )
    elif cfg.train.optimizer.name == "grassmann_sgd":
        _require(
            arch == "gcr_resnet",
            "train.optimizer.name",
            "grassmann_sgd moves GCR class subspaces; use it with model.arch gcr_resnet (any head)",
        )
    _check(cfg.train, TrainSchema, "train")
    _check(cfg.trainer, TrainerSchema, "trainer")
    _check(cfg.logger, LoggerSchema, "logger")
    _require(isinstance(cfg.seed, int), "seed", f"must be an integer, got {cfg.seed!r}")
    scales = cfg.paper.get("scales", {})
    _one_of(cfg.scale.name, scales, f"scale (paper {cfg.paper.id} defines)")
