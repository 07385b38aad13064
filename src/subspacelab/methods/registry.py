"""Method name -> function(backbone, **settings) -> wrapped model."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from subspacelab.subspace.projections import make_projection
from subspacelab.subspace.reparam import FullSpace, SubspaceModel


def full_space(module: nn.Module) -> FullSpace:
    """Train every parameter: the paper's "direct" baseline."""
    return FullSpace(module)


def random_subspace(
    module: nn.Module,
    d: int,
    projection: str = "fastfood",
    projection_seed: int = 0,
    dense_max_mib: float = 1024,
) -> SubspaceModel:
    """Li et al. (2018): train only z in theta = theta0 + P z, P a random D x d projection."""
    D = sum(p.numel() for p in module.parameters())
    P = make_projection(projection, D, d, projection_seed, dense_max_bytes=int(dense_max_mib * 2**20))
    return SubspaceModel(module, P)


METHODS: dict[str, Callable[..., nn.Module]] = {"full": full_space, "intrinsic": random_subspace}


def apply_method(name: str, module: nn.Module, **settings) -> nn.Module:
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; valid: {', '.join(sorted(METHODS))}")
    return METHODS[name](module, **settings)
