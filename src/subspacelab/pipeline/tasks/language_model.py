"""Causal language-model pre-training runs: a tiny LLaMA (or a real checkpoint) trained on a corpus by a
low-rank recipe (full, lora, relora, galore, switchlora).

Besides validation loss/perplexity a run records what the low-rank papers claim about: the effective rank
of every target layer's learned update W_T - W_0 (W_0 rebuilt from the seed), the optimizer-state bytes,
the trainable (= all-reduced) bytes per step, the bytes DDP actually all-reduced (measured by a
communication hook when there are several ranks), throughput and peak memory.
"""

from __future__ import annotations

from omegaconf import DictConfig

from subspacelab.pipeline.runinfo import resolved

MODEL_KEYS = (
    "hidden_size",
    "intermediate_size",
    "num_layers",
    "num_heads",
    "tie_embeddings",
    "name_or_path",
    "mixer",
    "grassmann_rank",
    "grassmann_windows",
)


def _data_module(c: dict):
    from subspacelab.data.text import LMDataModule

    kw = {k: v for k, v in c["data"].items() if k not in ("task", "id", "source")}
    kw["name"] = c["data"].get("source") or kw["name"]  # a hub corpus: a short name for runs, the hub id here
    return LMDataModule(**kw)


def _backbone(c: dict, vocab_size: int):
    from subspacelab.configurable import locate

    build = locate(c["model"]["_target_"], "model._target_")
    kw = {k: c["model"][k] for k in MODEL_KEYS if k in c["model"]}
    return build(seed=c["seed"], vocab_size=vocab_size, max_seq_len=c["data"]["seq_len"], **kw)


def recipe_settings(c: dict) -> dict:
    method = {k: v for k, v in c["method"].items() if k not in ("name", "tag", "targets", "per_layer")}
    schedule = c["train"]["schedule"]
    return {
        "targets": list(c["model"]["lowrank_targets"]),
        "total_steps": int(c["trainer"]["max_steps"]),
        "warmup_steps": int(schedule["warmup_steps"]),
        "min_lr_ratio": float(schedule["min_lr_ratio"]),
        "seed": int(c["seed"]),
        **method,
    }


def build(cfg: DictConfig):
    from subspacelab.configurable import locate
    from subspacelab.lit.causal_lm import CausalLMModule

    c = resolved(cfg)
    dm = _data_module(c)
    dm.prepare_data()
    dm.setup("fit")
    net = _backbone(c, dm.vocab_size)
    recipe = locate(c["method"]["targets"]["lm"], "method.targets.lm")(**recipe_settings(c))
    recipe.prepare(net)
    return dm, CausalLMModule(net, recipe, optimizer=c["train"]["optimizer"])


def trained_state(module) -> dict:
    return {k: v.detach().cpu() for k, v in module.net.state_dict().items()}


def update_ranks(cfg: DictConfig, module, vocab_size: int) -> dict:
    """Effective and numerical rank of W_T - W_0 for every target layer (W_0 rebuilt from the seed)."""
    import torch

    from subspacelab.lowrank.measure import effective_rank, numerical_rank

    c = resolved(cfg)
    initial = _backbone(c, vocab_size)
    w0 = {name: m.weight.detach() for name, m in initial.named_modules() if isinstance(m, torch.nn.Linear)}
    per_layer = {}
    for name, w in module.recipe.weights(module.net).items():
        delta = w.cpu() - w0[name]
        per_layer[name] = {
            "effective_rank": effective_rank(delta),
            "rank": numerical_rank(delta),
            "full_rank": min(delta.shape),
            "delta_fro": float(delta.norm()),
        }
    eff = [v["effective_rank"] for v in per_layer.values()]
    return {
        "delta_effective_rank_mean": sum(eff) / len(eff),
        "delta_effective_rank_min": min(eff),
        "delta_effective_rank_max": max(eff),
        "delta_ranks": per_layer,
    }


def run_metrics(cfg: DictConfig, dm, module, trainer, test: dict) -> dict:
    import math

    from subspacelab.lowrank.measure import trainable_bytes, training_state_bytes

    net = module.net
    steps = max(int(trainer.global_step), 1)
    loss = float(test["test/loss"])
    return {
        "arch": cfg.model.arch,
        "r": cfg.method.get("r", cfg.method.get("rank")),
        "D": sum(p.numel() for p in net.parameters()),
        "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "val_loss": loss,
        "val_ppl": math.exp(min(loss, 50.0)),
        "curve": [list(x) for x in module.curve],
        "tokens_seen": int(module.tokens_seen),
        "tokens_per_batch": int(dm.tokens_per_batch),
        "optimizer_state_bytes": module.state_bytes,
        "trainable_bytes": trainable_bytes(net),
        "training_state_bytes": training_state_bytes(net, module.state_bytes or 0),
        "allreduce_bytes_per_step": module.comm.bytes / steps if trainer.world_size > 1 else None,
        "recipe": module.recipe.describe(),
        **update_ranks(cfg, module, dm.vocab_size),
    }


def summary(metrics: dict) -> str:
    return f"val ppl {metrics['val_ppl']:.2f}"
