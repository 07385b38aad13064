"""Thin LightningModules, one per training regime (not one per paper)."""

from subspacelab.lit.callbacks import RankAgreement, StepTimer
from subspacelab.lit.supervised import SupervisedModule

__all__ = ["RankAgreement", "StepTimer", "SupervisedModule"]
