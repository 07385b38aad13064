"""LoRA as a plain module: ``y = W x + b + s * B (A x)`` with W frozen, A (r x n) and B (m x r) trained.

``LoRALinear`` replaces an ``nn.Linear`` in place (``inject_lora``). Two initialisations:

- ``"peft"``: A ~ kaiming-uniform(a=sqrt 5), B = 0, scaling alpha / r: the function starts as W x
  (what ``peft.LoraConfig(init_lora_weights=True)`` does, so the two can be compared on equal weights);
- ``"switchlora"``: A and B uniform with the SwitchLoRA bounds (``switchlora_init_bounds``) and W set
  to W0 - s B A so the layer still computes W0 x at the start (asfsdsf/SwitchLoRA, ``layer2lora``).

No framework code here: the Lightning module and the methods use it as an ordinary ``nn.Module``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F


def switchlora_init_bounds(in_features: int, out_features: int, rank: int) -> tuple[float, float]:
    """Uniform bounds for A and B that keep the output scale of B A like Kaiming's (SwitchLoRA's
    ``get_init_lora_bound``): std_A = (sqrt(m) r / n^1.5)^(1/4) sqrt(g), std_B = (r / sqrt(m n))^(1/4) sqrt(g),
    g = gain('leaky_relu', sqrt 5), bound = sqrt(3) std."""
    m, n, r = out_features, in_features, rank
    gain = nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    std_a = ((m**0.5 * r) / n**1.5) ** 0.25 * gain**0.5
    std_b = (r / (m * n) ** 0.5) ** 0.25 * gain**0.5
    return math.sqrt(3.0) * std_a, math.sqrt(3.0) * std_b


class LoRALinear(nn.Module):
    """A frozen linear map plus a trained low-rank correction ``scaling * B @ A``."""

    def __init__(
        self,
        base: nn.Linear,
        r: int,
        alpha: float | None = None,
        init: str = "peft",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not 0 < r <= min(base.in_features, base.out_features):
            raise ValueError(f"LoRA rank r={r} must be in 1..{min(base.in_features, base.out_features)}")
        self.in_features, self.out_features, self.r = base.in_features, base.out_features, int(r)
        self.alpha = float(alpha if alpha is not None else r)
        self.scaling = self.alpha / self.r
        self.weight = nn.Parameter(base.weight.detach().clone(), requires_grad=False)
        self.bias = (
            None if base.bias is None else nn.Parameter(base.bias.detach().clone(), requires_grad=False)
        )
        dev, dt = self.weight.device, self.weight.dtype
        self.lora_A = nn.Parameter(torch.empty(self.r, self.in_features, device=dev, dtype=dt))
        self.lora_B = nn.Parameter(torch.empty(self.out_features, self.r, device=dev, dtype=dt))
        self.reset_lora(init, generator)

    @torch.no_grad()
    def reset_lora(self, init: str = "peft", generator: torch.Generator | None = None) -> None:
        """Draw new A, B. ``peft`` keeps the function (B = 0); ``switchlora`` compensates W instead."""
        if init == "peft":
            bound = 1.0 / math.sqrt(self.in_features)  # kaiming_uniform_(a=sqrt 5) on an (r, n) matrix
            self.lora_A.uniform_(-bound, bound, generator=generator)
            self.lora_B.zero_()
        elif init == "switchlora":
            bound_a, bound_b = switchlora_init_bounds(self.in_features, self.out_features, self.r)
            self.lora_A.uniform_(-bound_a, bound_a, generator=generator)
            self.lora_B.uniform_(-bound_b, bound_b, generator=generator)
            self.weight -= self.scaling * self.lora_B @ self.lora_A
        else:
            raise ValueError(f"unknown LoRA init {init!r}; valid: peft, switchlora")

    def delta(self) -> torch.Tensor:
        """The low-rank part ``scaling * B A`` (m x n)."""
        return self.scaling * self.lora_B @ self.lora_A

    def merged_weight(self) -> torch.Tensor:
        """The weight the layer applies: ``W + scaling * B A``."""
        return self.weight + self.delta()

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ``scaling * B A`` into W (the layer's function is unchanged only if A, B are reset after)."""
        self.weight += self.delta()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + self.scaling * F.linear(
            F.linear(x, self.lora_A), self.lora_B
        )

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, scaling={self.scaling:g}"


def target_linears(model: nn.Module, targets: Sequence[str]) -> list[tuple[str, nn.Linear]]:
    """The ``nn.Linear`` modules whose qualified name ends with one of ``targets`` (peft's rule)."""
    found = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets)
    ]
    if not found:
        raise ValueError(f"no nn.Linear matches target modules {list(targets)}")
    return found


def inject_lora(
    model: nn.Module,
    targets: Sequence[str],
    r: int,
    alpha: float | None = None,
    init: str = "peft",
    seed: int = 0,
    layer_cls: type[LoRALinear] = LoRALinear,
    **layer_kw,
) -> list[str]:
    """Replace each target linear of ``model`` by ``layer_cls`` in place, freeze W; returns the names.
    Every layer draws A, B from one generator seeded with ``seed`` (a run's LoRA init is reproducible)."""
    gen = torch.Generator().manual_seed(int(seed))
    names = []
    for name, linear in target_linears(model, targets):
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, layer_cls(linear, r=r, alpha=alpha, init=init, generator=gen, **layer_kw))
        names.append(name)
    return names


def lora_layers(model: nn.Module) -> Iterator[tuple[str, LoRALinear]]:
    for name, m in model.named_modules():
        if isinstance(m, LoRALinear):
            yield name, m
