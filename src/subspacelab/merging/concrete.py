"""The Concrete subspace mask of Concrete merging (Tang et al. 2023; tanganke/subspace_fusion, FusionBench's
``MaskModel``): one mask logit per parameter, shared by every task (zeros at the start, i.e. keep probability 1/2);
a mask z is drawn from the relaxed Bernoulli (Concrete) distribution of temperature T with those logits
(differentiable: ``rsample``), or from the Bernoulli itself (discrete); each tensor's mask is divided by its mean;
and the merged weights are theta_0 + sum_i lambda_i (tau_i * z / mean(z)). The logits are learned by minimising the
merged model's prediction entropy on unlabelled test inputs (the outer level; not here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from subspacelab.merging.arithmetic import StateDict, add_scaled, task_vector


class ConcreteMask(nn.Module):
    """One learnable mask logit per entry of the tensors of ``template`` (name -> tensor)."""

    def __init__(self, template: StateDict):
        super().__init__()
        self.names = list(template)
        self.logits = nn.ParameterList(
            nn.Parameter(torch.zeros_like(t, dtype=torch.float32)) for t in template.values()
        )

    def distribution(self, name_index: int, temperature: float, discrete: bool):
        logits = self.logits[name_index]
        if discrete:
            return torch.distributions.Bernoulli(logits=logits)
        return torch.distributions.RelaxedBernoulli(torch.tensor(temperature), logits=logits)

    def sample(self, temperature: float = 0.5, discrete: bool = False) -> dict[str, torch.Tensor]:
        """name -> a mask drawn from the current logits (relaxed and differentiable, or discrete)."""
        return {
            name: (d.sample() if discrete else d.rsample())
            for i, name in enumerate(self.names)
            for d in (self.distribution(i, temperature, discrete),)
        }


def rescaled(mask: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each tensor's mask divided by its mean (so the masked task vector keeps its scale)."""
    return {name: m / m.mean() for name, m in mask.items()}


def masked_task_arithmetic(
    pretrained: StateDict,
    finetuned: Sequence[StateDict],
    mask: Mapping[str, torch.Tensor],
    scale: float | Sequence[float],
) -> dict[str, torch.Tensor]:
    """theta_0 + sum_i scale_i * tau_i * z / mean(z), with one shared mask z (rescaled per tensor)."""
    z = rescaled(mask)
    vectors = [{n: t * z[n] for n, t in task_vector(f, pretrained).items()} for f in finetuned]
    return add_scaled(pretrained, vectors, scale)
