"""Li et al. (2018): train only z in theta = theta0 + P z, P a random D x d projection regenerated from a seed."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from subspacelab.configurable import configurable, one_of, require
from subspacelab.subspace.projections import PROJECTIONS, make_projection
from subspacelab.subspace.reparam import SubspaceModel


@dataclass
class IntrinsicConfig:
    d: int
    projection: str = "fastfood"
    projection_seed: int = 0
    dense_max_mib: float = 1024.0

    def __post_init__(self):
        require(self.d > 0, "method.d", f"must be a positive integer, got {self.d}")
        one_of(self.projection, PROJECTIONS, "method.projection")
        require(self.dense_max_mib > 0, "method.dense_max_mib", "must be > 0")


@configurable("intrinsic", IntrinsicConfig, task="classification")
def random_subspace(
    module: nn.Module,
    d: int,
    projection: str = "fastfood",
    projection_seed: int = 0,
    dense_max_mib: float = 1024,
) -> SubspaceModel:
    """``module`` reparameterised by d trainable numbers z (theta0 frozen, P never stored)."""
    D = sum(p.numel() for p in module.parameters())
    require(d <= D, "method.d", f"must be at most the model's parameter count D = {D:,}, got {d:,}")
    P = make_projection(projection, D, d, projection_seed, dense_max_bytes=int(dense_max_mib * 2**20))
    return SubspaceModel(module, P)
