"""Build a backbone from its builder or its config, its initialisation drawn from a seed.

A classification builder takes ``in_shape`` (C, H, W) and ``num_classes`` plus its own options; which builders
exist is what ``conf/model/*.yaml`` name (``_target_``), each declaring its options beside its code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from subspacelab.configurable import locate, options


def build_model(model: Callable[..., nn.Module] | Mapping, seed: int, **kwargs) -> nn.Module:
    """Instantiate ``model`` (a builder, or a model config naming one with ``_target_``) with its initialisation
    drawn from ``seed`` (theta0 is reproducible); ``kwargs`` add to or override the config's options."""
    if isinstance(model, Mapping):
        builder, kwargs = locate(model.get("_target_"), "model._target_"), {**options(dict(model)), **kwargs}
    else:
        builder = model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(**kwargs)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
