"""Learners as contiguous blocks of one embedding's neurons, and ADSL's dynamic split of the newest learner.

ADSL (adigasu/Dynamic_subspace_learners, lib/model.py; docs/research/dynamic_subspace_learners.md §1, §2.4):
K learners start as K blocks of ceil(d / K) neurons; the model's output normalises each block on its own. A
dynamic run starts with one learner; when growth is triggered, each neuron j of the newest learner is scored by
the magnitude of the epoch mean of activation x gradient (a first-order Taylor estimate of the loss change if the
neuron were removed), scaled to [0, 1]. The neurons scoring above 0.5 (at least 5, out of a learner of more than
10) stay in that learner, compacted into its first slots; the freed slots are re-initialised and become a new
learner appended last."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def split_sizes(dim: int, learners: int) -> list[int]:
    """ADSL's initial blocks: ``learners`` contiguous blocks of ceil(dim / learners) neurons, the last one
    shorter when ``learners`` does not divide ``dim``."""
    if not 1 <= learners <= dim:
        raise ValueError(f"learners must be in [1, {dim}], got {learners}")
    size = math.ceil(dim / learners)
    sizes = [size] * (dim // size) + ([dim % size] if dim % size else [])
    if len(sizes) != learners:
        raise ValueError(f"{dim} neurons do not split into {learners} blocks of ceil(dim / K) = {size}")
    return sizes


def normalize_per_learner(x: Tensor, sizes: list[int], eps: float = 1e-12) -> Tensor:
    """Each learner's block of ``x`` (..., sum(sizes)) scaled to unit L2 norm on its own."""
    blocks = torch.split(x, sizes, dim=-1)
    return torch.cat([b / b.norm(dim=-1, keepdim=True).clamp_min(eps) for b in blocks], dim=-1)


def taylor_scores(activation_times_gradient: Tensor) -> Tensor:
    """Scores in [0, 1] of a learner's neurons from the epoch's mean (or sum: the scaling cancels it) of
    activation x gradient per neuron: the magnitudes, divided by their L2 norm, min-max scaled."""
    v = activation_times_gradient.abs()
    v = v / (v.norm() + 1e-8)
    return (v - v.min()) / (v.max() - v.min()).clamp_min(1e-12)


@torch.no_grad()
def split_newest_learner(
    weight: Tensor,
    bias: Tensor,
    sizes: list[int],
    scores: Tensor,
    threshold: float = 0.5,
    min_important: int = 5,
    min_size: int = 10,
    generator: torch.Generator | None = None,
) -> list[int] | None:
    """Split the newest learner of the embedding layer (``weight`` (d, in), ``bias`` (d,)) in place; ``scores``:
    its neurons' :func:`taylor_scores`. Returns the new block sizes, or None (nothing changed) when the learner has
    ``min_size`` neurons or fewer or fewer than ``min_important`` neurons score above ``threshold``.

    The important neurons (highest score first) are copied from a snapshot into the learner's first slots (the
    code copies in place, in score order, which can overwrite a row it still has to copy); the other slots get a
    Xavier-normal weight (gain 1) and the default bias of a fresh ``nn.Linear``, and form the new learner."""
    size = sizes[-1]
    if scores.shape != (size,):
        raise ValueError(
            f"scores must have one entry per neuron of the newest learner ({size}), got {tuple(scores.shape)}"
        )
    important = torch.nonzero(scores > threshold).flatten()
    important = important[torch.argsort(scores[important], descending=True, stable=True)]
    if size <= min_size or len(important) < min_important:
        return None
    start = sum(sizes[:-1])
    kept = len(important)
    w_old, b_old = weight[start : start + size].clone(), bias[start : start + size].clone()
    weight[start : start + kept] = w_old[important]
    bias[start : start + kept] = b_old[important]
    fresh, fan_in = size - kept, weight.shape[1]
    std = math.sqrt(2.0 / (fan_in + fresh))  # Xavier normal of a (fresh, fan_in) block, gain 1
    weight[start + kept : start + size] = torch.randn(fresh, fan_in, generator=generator) * std
    bound = 1 / math.sqrt(fan_in)
    bias[start + kept : start + size] = (torch.rand(fresh, generator=generator) * 2 - 1) * bound
    return [*sizes[:-1], kept, fresh]
