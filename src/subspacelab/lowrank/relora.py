"""ReLoRA (Lialin et al. 2023): train LoRA factors, and every T steps merge them into W, draw new factors
and reset their optimizer state, so that a sum of low-rank updates can build a high-rank one.

- ``merge_and_reinit``: W <- W + s B A, then A ~ kaiming-uniform, B = 0 (the function is unchanged: exact).
- ``prune_optimizer_state``: the official ``reset_optimizer_on_relora`` zeroes the Adam moments of the LoRA
  parameters by random pruning with ratio 0.999 (not exactly zero: exact zeros broke their optimizer
  dictionary). The mask is drawn from a seeded generator here so that DDP ranks prune the same entries.
"""

from __future__ import annotations

import torch
from torch import nn

from subspacelab.lowrank.lora import lora_layers


@torch.no_grad()
def merge_and_reinit(model: nn.Module, generator: torch.Generator | None = None) -> int:
    """Merge every LoRA layer's ``s B A`` into its W and restart A, B (peft-style); returns how many."""
    n = 0
    for _, layer in lora_layers(model):
        layer.merge()
        layer.reset_lora("peft", generator)
        n += 1
    return n


@torch.no_grad()
def prune_optimizer_state(
    optimizer: torch.optim.Optimizer,
    params,
    ratio: float = 0.999,
    keys=("exp_avg", "exp_avg_sq"),
    generator: torch.Generator | None = None,
) -> float:
    """Zero a random ``ratio`` of the entries of each state tensor of ``params``; returns the zeroed fraction."""
    zeros = total = 0
    for p in params:
        state = optimizer.state.get(p, {})
        for key in keys:
            if key not in state:
                continue
            t = state[key]
            keep = torch.rand(t.shape, generator=generator) > ratio
            t.mul_(keep.to(t.device, t.dtype))
            zeros += int((t == 0).sum())
            total += t.numel()
    return zeros / total if total else 0.0
