"""Task vectors and task arithmetic (Ilharco et al. 2023, as FusionBench's ``task_arithmetic_merge``):
tau_i = theta_i - theta_0, and theta = theta_0 + lambda * sum_i tau_i, tensor by tensor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

StateDict = Mapping[str, torch.Tensor]


def task_vector(finetuned: StateDict, pretrained: StateDict) -> dict[str, torch.Tensor]:
    """theta_i - theta_0 for every tensor (the two must hold the same names and shapes)."""
    if finetuned.keys() != pretrained.keys():
        raise ValueError(f"the state dicts differ in names: {sorted(set(finetuned) ^ set(pretrained))}")
    return {name: finetuned[name] - pretrained[name] for name in pretrained}


def add_scaled(base: StateDict, vectors: Sequence[StateDict], scale: float | Sequence[float]) -> dict:
    """base + sum_i scale_i * vectors_i, tensor by tensor (one ``scale`` for all, or one per vector)."""
    scales = [float(scale)] * len(vectors) if isinstance(scale, (int, float)) else [float(s) for s in scale]
    if len(scales) != len(vectors):
        raise ValueError(f"{len(scales)} scales for {len(vectors)} vectors")
    return {
        name: base[name] + sum(s * v[name] for s, v in zip(scales, vectors, strict=True)) for name in base
    }


def task_arithmetic(pretrained: StateDict, finetuned: Sequence[StateDict], scale: float) -> dict:
    """theta_0 + scale * sum_i (theta_i - theta_0)."""
    return add_scaled(pretrained, [task_vector(f, pretrained) for f in finetuned], scale)
