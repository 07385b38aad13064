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


def relaxed_bernoulli(logits: torch.Tensor, temperature: float, uniform: torch.Tensor) -> torch.Tensor:
    """The Concrete (relaxed Bernoulli) draw from uniform noise u: sigmoid((logits + log u - log(1 - u)) / T), the
    reparameterisation ``torch.distributions.RelaxedBernoulli.rsample`` computes (u clamped away from 0 and 1)."""
    eps = torch.finfo(uniform.dtype).eps
    u = uniform.clamp(eps, 1 - eps)
    return torch.sigmoid((logits + u.log() - (-u).log1p()) / temperature)


class ConcreteMask(nn.Module):
    """One learnable mask logit per entry of the tensors of ``template`` (name -> tensor), zeros at the start."""

    def __init__(self, template: StateDict):
        super().__init__()
        self.names = list(template)
        self.logits = nn.ParameterList(nn.Parameter(torch.zeros_like(t)) for t in template.values())

    def sample(
        self, temperature: float = 0.5, discrete: bool = False, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """name -> a mask drawn from the current logits: relaxed and differentiable, or discrete (0/1). Without a
        generator, from torch's distributions and its global stream (FusionBench's ``MaskModel.sample_mask``);
        with one, from its uniform draws (the same formula), so that every DDP rank draws the same mask."""
        out = {}
        for name, logits in zip(self.names, self.logits, strict=True):
            if generator is None:
                dist = (
                    torch.distributions.Bernoulli(logits=logits)
                    if discrete
                    else torch.distributions.RelaxedBernoulli(torch.tensor(temperature), logits=logits)
                )
                out[name] = dist.sample() if discrete else dist.rsample()
                continue
            u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).to(logits.device)
            out[name] = (
                (u < torch.sigmoid(logits)).to(logits.dtype)
                if discrete
                else relaxed_bernoulli(logits, temperature, u)
            )
        return out


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
