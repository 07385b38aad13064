"""The maths of subspace techniques: plain torch, no Lightning, Hydra or W&B."""

from subspacelab.subspace.fwht import fwht
from subspacelab.subspace.projections import (
    DenseProjection,
    FastfoodProjection,
    ProjectionBudgetError,
    SparseProjection,
    make_projection,
)
from subspacelab.subspace.reparam import SubspaceModel

__all__ = [
    "DenseProjection",
    "FastfoodProjection",
    "ProjectionBudgetError",
    "SparseProjection",
    "SubspaceModel",
    "fwht",
    "make_projection",
]
