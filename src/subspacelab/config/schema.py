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
    classes: list[int] | None = None

    def __post_init__(self):
        from subspacelab.data.vision import DATASETS, check_classes

        _one_of(self.name, DATASETS, "data.name")
        try:
            check_classes(self.classes, DATASETS[self.name])
        except ValueError as err:
            raise ConfigError(str(err)) from None
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


@dataclass
class LlamaSchema:
    arch: str
    tag: str
    hidden_size: int = 128
    intermediate_size: int = 344
    num_layers: int = 2
    num_heads: int = 4
    tie_embeddings: bool = False
    name_or_path: str | None = None
    lowrank_targets: list[str] = field(default_factory=list)
    mixer: str = "attention"
    grassmann_rank: int = 16
    grassmann_windows: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 12, 16])

    def __post_init__(self):
        _one_of(self.mixer, {"attention", "attention_nope", "grassmann"}, "model.mixer")
        _require(self.grassmann_rank >= 2, "model.grassmann_rank", f"must be >= 2, got {self.grassmann_rank}")
        _require(all(w > 0 for w in self.grassmann_windows), "model.grassmann_windows", "offsets must be > 0")
        _require(
            self.hidden_size > 0 and self.hidden_size % self.num_heads == 0,
            "model.hidden_size",
            f"must be a positive multiple of model.num_heads={self.num_heads}, got {self.hidden_size}",
        )
        _require(self.num_layers > 0, "model.num_layers", f"must be > 0, got {self.num_layers}")
        _require(
            bool(self.lowrank_targets),
            "model.lowrank_targets",
            "must name the linear layers low-rank methods act on",
        )


@dataclass
class GCRResNetSchema:
    arch: str
    tag: str
    head: str = "gcr"
    k: int = 8
    gamma: float = 25.0
    width: int = 16
    depth: int = 20

    def __post_init__(self):
        _one_of(self.head, {"gcr", "cosine", "softmax"}, "model.head")
        _require(self.k > 0, "model.k", f"must be > 0, got {self.k}")
        _require(self.gamma > 0, "model.gamma", f"must be > 0, got {self.gamma}")
        _require(self.width > 0, "model.width", f"must be > 0, got {self.width}")
        _require(
            self.depth >= 8 and (self.depth - 2) % 6 == 0,
            "model.depth",
            f"must be 6n + 2 >= 8, got {self.depth}",
        )
        _require(
            self.k <= 4 * self.width,
            "model.k",
            f"must be <= the feature size 4 * model.width = {4 * self.width}",
        )


@dataclass
class MobileNetSchema:
    arch: str
    tag: str
    width_mult: float = 1.0
    ulsam: str = "none"
    ulsam_groups: int = 4
    ulsam_positions: list[int] | None = None

    def __post_init__(self):
        _one_of(self.ulsam, {"none", "insert", "replace"}, "model.ulsam")
        _require(self.width_mult > 0, "model.width_mult", f"must be > 0, got {self.width_mult}")
        _require(self.ulsam_groups > 0, "model.ulsam_groups", f"must be > 0, got {self.ulsam_groups}")
        _require(
            self.ulsam != "none" or not self.ulsam_positions,
            "model.ulsam_positions",
            "given without an ULSAM variant (model.ulsam: insert | replace)",
        )


MODEL_SCHEMAS = {
    "mlp": MLPSchema,
    "lenet": LeNetSchema,
    "convnet": ConvNetSchema,
    "llama": LlamaSchema,
    "gcr_resnet": GCRResNetSchema,
    "mobilenet_v1": MobileNetSchema,
    "mobilenet_v2": MobileNetSchema,
}


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


@dataclass
class LoRASchema:
    name: str
    tag: str
    r: int = 32
    alpha: float = 1.0
    init: str = "peft"

    def __post_init__(self):
        _require(self.r > 0, "method.r", f"must be > 0, got {self.r}")
        _one_of(self.init, {"peft", "switchlora"}, "method.init")


@dataclass
class ReLoRASchema:
    name: str
    tag: str
    r: int = 32
    alpha: float = 8.0
    restart_every: int = 500
    restart_warmup_steps: int = 10
    prune_ratio: float = 0.999

    def __post_init__(self):
        _require(self.r > 0, "method.r", f"must be > 0, got {self.r}")
        _require(
            self.restart_every > self.restart_warmup_steps >= 0,
            "method.restart_every",
            "must exceed method.restart_warmup_steps (>= 0)",
        )
        _require(0 <= self.prune_ratio <= 1, "method.prune_ratio", "must be in [0, 1]")


@dataclass
class GaLoreSchema:
    name: str
    tag: str
    rank: int = 32
    update_proj_gap: int = 200
    scale: float = 0.25
    proj_type: str = "std"
    per_layer: bool = False

    def __post_init__(self):
        _require(self.rank > 0, "method.rank", f"must be > 0, got {self.rank}")
        _require(self.update_proj_gap > 0, "method.update_proj_gap", "must be > 0")
        _one_of(self.proj_type, {"std", "reverse_std", "left", "right"}, "method.proj_type")
        _require(
            not self.per_layer,
            "method.per_layer",
            "per-layer GaLore (optimizer steps inside backward) "
            "is not supported: it steps before DDP averages the gradients and once per micro-batch under "
            "gradient accumulation (GaLore #78, transformers #29588); use method.per_layer=false",
        )


@dataclass
class SwitchLoRASchema:
    name: str
    tag: str
    r: int = 32
    alpha: float = 1.0
    interval: int = 40
    descent_rate: float = 0.1
    adam_warm_step: int = 5

    def __post_init__(self):
        _require(self.r > 0, "method.r", f"must be > 0, got {self.r}")
        _require(
            self.interval >= 2 * self.adam_warm_step,
            "method.interval",
            f"must be >= 2 x method.adam_warm_step = {2 * self.adam_warm_step} (SwitchLoRA freezes one "
            "factor's switched vectors for adam_warm_step steps)",
        )
        _require(0 < self.descent_rate <= 1, "method.descent_rate", "must be in (0, 1]")


METHOD_SCHEMAS = {
    "full": FullSchema,
    "intrinsic": IntrinsicSchema,
    "lora": LoRASchema,
    "relora": ReLoRASchema,
    "galore": GaLoreSchema,
    "switchlora": SwitchLoRASchema,
}
# Which methods and backbones each task can run.
TASK_METHODS = {
    "classification": {"full", "intrinsic"},
    "lm": {"full", "lora", "relora", "galore", "switchlora"},
}
TASK_ARCHS = {
    "classification": {"mlp", "lenet", "convnet", "gcr_resnet", "mobilenet_v1", "mobilenet_v2"},
    "lm": {"llama"},
}


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
        _require(self.seq_len > 0, "data.seq_len", f"must be > 0, got {self.seq_len}")
        _require(self.batch_size > 0, "data.batch_size", f"must be > 0, got {self.batch_size}")
        _require(0 < self.val_fraction < 1, "data.val_fraction", "must be in (0, 1)")


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
    task = str(cfg.data.get("task") or "classification")
    _one_of(task, TASK_METHODS, "data.task")
    _check(cfg.data, TextDataSchema if task == "lm" else DataSchema, "data")
    arch = cfg.model.get("arch")
    _one_of(arch, TASK_ARCHS[task], f"model.arch (a {task} run)")
    _check(cfg.model, MODEL_SCHEMAS[arch], "model")
    name = cfg.method.get("name")
    _one_of(name, TASK_METHODS[task], f"method.name (a {task} run)")
    _check(cfg.method, METHOD_SCHEMAS[name], "method")
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
