"""Train every parameter: the paper's "direct" (full-space) baseline."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from subspacelab.configurable import configurable
from subspacelab.subspace.reparam import FullSpace


@dataclass
class FullConfig:
    """Full-space training has no options."""


@configurable("full", FullConfig, task="classification")
def full_space(module: nn.Module) -> FullSpace:
    """``module`` with every parameter trained."""
    return FullSpace(module)
