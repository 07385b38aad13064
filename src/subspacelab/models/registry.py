"""Build a backbone from its name and keyword arguments."""

from __future__ import annotations

import torch
from torch import nn

from subspacelab.models.vision import MLP, ConvNet, LeNet

MODELS: dict[str, type[nn.Module]] = {"mlp": MLP, "lenet": LeNet, "convnet": ConvNet}


def build_model(arch: str, seed: int, **kwargs) -> nn.Module:
    """Instantiate ``arch`` with its initialisation drawn from ``seed`` (theta0 is reproducible)."""
    if arch not in MODELS:
        raise KeyError(f"unknown model arch {arch!r}; valid: {', '.join(sorted(MODELS))}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[arch](**kwargs)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
