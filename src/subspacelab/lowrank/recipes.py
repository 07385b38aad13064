"""Pre-training recipes compared by SwitchLoRA: what each one does to the model, which optimizer it
uses, its learning-rate schedule, and what it does around each optimizer step.

A recipe is a plain object (no Lightning): ``CausalLMModule`` calls

    prepare(model)                          once, before the optimizer is built (inject adapters)
    optimizer(model, lr, betas, eps, wd)    the optimizer over the trainable parameters
    lr_multiplier(step)                     the schedule (``LambdaLR``)
    before_step(step, optimizer)            after backward and clipping, before optimizer.step()
    after_step(step, optimizer)             after optimizer.step() (``step`` = optimizer steps done)
    weights(model)                          {name: the m x n matrix each target layer applies}

Every random draw a recipe makes comes from a generator seeded by the run's seed, so DDP ranks make
identical draws without communicating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from subspacelab.configurable import configurable, one_of, require
from subspacelab.lowrank import schedules
from subspacelab.lowrank.lora import LoRALinear, inject_lora, lora_layers, target_linears
from subspacelab.lowrank.relora import merge_and_reinit, prune_optimizer_state


class FullRank:
    """Every parameter trained with AdamW (the paper's full-rank baseline)."""

    name = "full"

    def __init__(
        self,
        targets: Sequence[str],
        total_steps: int,
        warmup_steps: int = 0,
        min_lr_ratio: float = 0.1,
        seed: int = 0,
    ):
        self.targets = tuple(targets)
        self.total_steps, self.warmup_steps, self.min_lr_ratio = (
            int(total_steps),
            int(warmup_steps),
            min_lr_ratio,
        )
        self.seed = int(seed)

    def prepare(self, model: nn.Module) -> None:
        target_linears(model, self.targets)  # fail early if the targets do not exist

    def param_groups(self, model: nn.Module, lr: float, weight_decay: float) -> list[dict]:
        return [
            {
                "params": [p for p in model.parameters() if p.requires_grad],
                "lr": lr,
                "weight_decay": weight_decay,
            }
        ]

    def optimizer(
        self, model: nn.Module, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
    ) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.param_groups(model, lr, weight_decay), lr=lr, betas=tuple(betas), eps=eps
        )

    def lr_multiplier(self, step: int) -> float:
        return schedules.cosine_with_min_lr(step, self.total_steps, self.warmup_steps, self.min_lr_ratio)

    def before_step(self, step: int, optimizer) -> None:
        pass

    def after_step(self, step: int, optimizer) -> None:
        pass

    def weights(self, model: nn.Module) -> dict[str, torch.Tensor]:
        out = {}
        for name, m in model.named_modules():
            if isinstance(m, LoRALinear) and _matches(name, self.targets):
                out[name] = m.merged_weight().detach()
            elif isinstance(m, nn.Linear) and _matches(name, self.targets):
                out[name] = m.weight.detach()
        return out

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def pack_optimizer_state(self, state: dict) -> None:
        """Make an optimizer ``state_dict`` plain tensors and numbers (checkpoints load with weights_only)."""

    def unpack_optimizer_state(self, state: dict) -> None:
        """Undo ``pack_optimizer_state`` before the optimizer loads the state."""

    def describe(self) -> dict:
        return {"recipe": self.name}


def _matches(name: str, targets: Sequence[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


class LoRAOnly(FullRank):
    """LoRA pre-training: W frozen at its random init, only ``s B A`` (and the embeddings, norms and LM
    head, as in the papers' code) trained. peft's initialisation (B = 0) by default."""

    name = "lora"

    def __init__(self, targets, total_steps, r: int, alpha: float = 1.0, init: str = "peft", **kw):
        super().__init__(targets, total_steps, **kw)
        self.r, self.alpha, self.init = int(r), float(alpha), init

    def prepare(self, model: nn.Module) -> None:
        inject_lora(model, self.targets, r=self.r, alpha=self.alpha, init=self.init, seed=self.seed)

    def describe(self) -> dict:
        return {"recipe": self.name, "r": self.r, "alpha": self.alpha, "init": self.init}


class ReLoRA(LoRAOnly):
    """ReLoRA: LoRA whose factors are merged into W and restarted every ``restart_every`` steps, with the
    LoRA parameters' Adam moments pruned (ratio 0.999) at each restart and a jagged cosine schedule."""

    name = "relora"

    def __init__(
        self,
        targets,
        total_steps,
        r: int,
        alpha: float,
        restart_every: int,
        restart_warmup_steps: int,
        prune_ratio: float = 0.999,
        **kw,
    ):
        super().__init__(targets, total_steps, r=r, alpha=alpha, init="peft", **kw)
        self.restart_every, self.restart_warmup_steps = int(restart_every), int(restart_warmup_steps)
        self.prune_ratio = float(prune_ratio)
        self.generator = torch.Generator().manual_seed(self.seed + 7919)
        self.restarts = 0

    def lr_multiplier(self, step: int) -> float:
        return schedules.cosine_with_restarts(
            step,
            self.total_steps,
            self.warmup_steps,
            self.restart_every,
            self.restart_warmup_steps,
            self.min_lr_ratio,
        )

    def prepare(self, model: nn.Module) -> None:
        super().prepare(model)
        self.model = model

    def after_step(self, step: int, optimizer) -> None:
        if step <= 0 or step % self.restart_every or step >= self.total_steps:
            return
        merge_and_reinit(self.model, self.generator)
        lora_params = [p for _, layer in lora_layers(self.model) for p in (layer.lora_A, layer.lora_B)]
        prune_optimizer_state(optimizer, lora_params, self.prune_ratio, generator=self.generator)
        self.restarts += 1

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "restarts": self.restarts}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.restarts = int(state["restarts"])

    def describe(self) -> dict:
        return {**super().describe(), "restart_every": self.restart_every, "restarts": self.restarts}


class GaLore(FullRank):
    """GaLore (Zhao et al. 2024): full-rank weights, Adam moments kept in a rank-r projection of each
    target matrix's gradient, the projection refreshed from the gradient's SVD every ``update_proj_gap``
    steps (``galore-torch``'s ``GaLoreAdamW``). Per-layer mode (optimizer steps inside backward) is not
    supported: it is wrong under DDP and gradient accumulation (GaLore #78, transformers #29588)."""

    name = "galore"

    def __init__(
        self,
        targets,
        total_steps,
        rank: int,
        update_proj_gap: int = 200,
        scale: float = 0.25,
        proj_type: str = "std",
        **kw,
    ):
        super().__init__(targets, total_steps, **kw)
        self.rank, self.update_proj_gap, self.scale, self.proj_type = (
            int(rank),
            int(update_proj_gap),
            scale,
            proj_type,
        )

    def optimizer(self, model, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        from galore_torch import GaLoreAdamW

        galore = {id(m.weight) for _, m in target_linears(model, self.targets)}
        regular = [p for p in model.parameters() if p.requires_grad and id(p) not in galore]
        projected = [p for p in model.parameters() if p.requires_grad and id(p) in galore]
        groups = [
            {"params": regular, "weight_decay": weight_decay},
            {
                "params": projected,
                "weight_decay": weight_decay,
                "rank": self.rank,
                "update_proj_gap": self.update_proj_gap,
                "scale": self.scale,
                "proj_type": self.proj_type,
            },
        ]
        return GaLoreAdamW(groups, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    PROJECTOR_FIELDS = ("rank", "update_proj_gap", "scale", "proj_type", "ortho_matrix")

    def pack_optimizer_state(self, state: dict) -> None:
        """galore-torch keeps a ``GaLoreProjector`` object in each projected parameter's state, which a
        ``weights_only`` load refuses; store its fields instead (new dicts: the live state is not touched)."""
        for key, s in list(state["state"].items()):
            proj = s.get("projector")
            if proj is not None and not isinstance(proj, dict):
                state["state"][key] = {**s, "projector": {f: getattr(proj, f) for f in self.PROJECTOR_FIELDS}}

    def unpack_optimizer_state(self, state: dict) -> None:
        from galore_torch.galore_projector import GaLoreProjector

        for s in state["state"].values():
            fields = s.get("projector")
            if isinstance(fields, dict):
                proj = GaLoreProjector(
                    fields["rank"],
                    update_proj_gap=fields["update_proj_gap"],
                    scale=fields["scale"],
                    proj_type=fields["proj_type"],
                )
                proj.ortho_matrix = fields["ortho_matrix"]
                s["projector"] = proj

    def describe(self) -> dict:
        return {
            "recipe": self.name,
            "rank": self.rank,
            "update_proj_gap": self.update_proj_gap,
            "scale": self.scale,
        }


class SwitchLoRA(LoRAOnly):
    """SwitchLoRA (Zhou et al. 2024): LoRA whose A rows and B columns are switched, one by one, for
    vectors from candidate pools with an exponentially decaying frequency; W absorbs each switch so the
    function is unchanged, the counterpart vector is frozen and its Adam state reset for a few steps."""

    name = "switchlora"

    def __init__(
        self,
        targets,
        total_steps,
        r: int,
        alpha: float = 1.0,
        interval: int = 40,
        descent_rate: float = 0.1,
        adam_warm_step: int = 5,
        **kw,
    ):
        super().__init__(targets, total_steps, r=r, alpha=alpha, init="switchlora", **kw)
        self.interval, self.descent_rate, self.adam_warm_step = (
            int(interval),
            float(descent_rate),
            int(adam_warm_step),
        )
        self.controller = None

    def prepare(self, model: nn.Module) -> None:
        from subspacelab.lowrank.switchlora import SwitchLoRAController, inject_switchlora, switchlora_layers

        inject_switchlora(model, self.targets, r=self.r, alpha=self.alpha, seed=self.seed)
        self.controller = SwitchLoRAController(
            switchlora_layers(model),
            base_interval=self.interval,
            descent_rate=self.descent_rate,
            total_steps=self.total_steps,
            warm_steps=self.adam_warm_step,
            seed=self.seed,
        )

    def optimizer(self, model, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        from subspacelab.lowrank.step_adamw import StepAdamW, lora_param_groups

        return StepAdamW(lora_param_groups(model, lr, weight_decay), lr=lr, betas=tuple(betas), eps=eps)

    def before_step(self, step: int, optimizer) -> None:
        self.controller.before_optimizer_step(step, optimizer)

    def state_dict(self) -> dict:
        return self.controller.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.controller.load_state_dict(state)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "interval": self.interval,
            "descent_rate": self.descent_rate,
            "adam_warm_step": self.adam_warm_step,
        }


# The options of each recipe as a run config gives them (``conf/method/<name>.yaml``), checked before a run.
@dataclass
class FullRankConfig:
    """Full-rank training has no options of its own (the schedule is ``train.schedule``)."""


@dataclass
class LoRAConfig:
    r: int = 32
    alpha: float = 1.0
    init: str = "peft"

    def __post_init__(self):
        require(self.r > 0, "method.r", f"must be > 0, got {self.r}")
        one_of(self.init, {"peft", "switchlora"}, "method.init")


@dataclass
class ReLoRAConfig:
    r: int = 32
    alpha: float = 8.0
    restart_every: int = 500
    restart_warmup_steps: int = 10
    prune_ratio: float = 0.999

    def __post_init__(self):
        require(self.r > 0, "method.r", f"must be > 0, got {self.r}")
        require(
            self.restart_every > self.restart_warmup_steps >= 0,
            "method.restart_every",
            "must exceed method.restart_warmup_steps (>= 0)",
        )
        require(0 <= self.prune_ratio <= 1, "method.prune_ratio", "must be in [0, 1]")


@dataclass
class GaLoreConfig:
    rank: int = 32
    update_proj_gap: int = 200
    scale: float = 0.25
    proj_type: str = "std"
    per_layer: bool = False

    def __post_init__(self):
        require(self.rank > 0, "method.rank", f"must be > 0, got {self.rank}")
        require(self.update_proj_gap > 0, "method.update_proj_gap", "must be > 0")
        one_of(self.proj_type, {"std", "reverse_std", "left", "right"}, "method.proj_type")
        require(
            not self.per_layer,
            "method.per_layer",
            "per-layer GaLore (optimizer steps inside backward) "
            "is not supported: it steps before DDP averages the gradients and once per micro-batch under "
            "gradient accumulation (GaLore #78, transformers #29588); use method.per_layer=false",
        )


@dataclass
class SwitchLoRAConfig:
    r: int = 32
    alpha: float = 1.0
    interval: int = 40
    descent_rate: float = 0.1
    adam_warm_step: int = 5

    def __post_init__(self):
        require(self.r > 0, "method.r", f"must be > 0, got {self.r}")
        require(
            self.interval >= 2 * self.adam_warm_step,
            "method.interval",
            f"must be >= 2 x method.adam_warm_step = {2 * self.adam_warm_step} (SwitchLoRA freezes one "
            "factor's switched vectors for adam_warm_step steps)",
        )
        require(0 < self.descent_rate <= 1, "method.descent_rate", "must be in (0, 1]")


for _recipe, _schema in (
    (FullRank, FullRankConfig),
    (LoRAOnly, LoRAConfig),
    (ReLoRA, ReLoRAConfig),
    (GaLore, GaLoreConfig),
    (SwitchLoRA, SwitchLoRAConfig),
):
    configurable(_recipe.name, _schema, task="lm")(_recipe)

RECIPES = {r.name: r for r in (FullRank, LoRAOnly, ReLoRA, GaLore, SwitchLoRA)}


def make_recipe(name: str, **settings):
    if name not in RECIPES:
        raise KeyError(f"unknown low-rank recipe {name!r}; valid: {', '.join(sorted(RECIPES))}")
    return RECIPES[name](**settings)
