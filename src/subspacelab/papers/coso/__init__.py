"""Continuous Subspace Optimization for Continual Learning (CoSO; Cheng, Wan, Wu, Hou, Zhang, NeurIPS 2025,
arXiv:2505.11816): each task is optimised in a sequence of low-rank subspaces taken from its gradients' SVD and
kept orthogonal to a history of earlier tasks' directions (a Frequent-Directions sketch per task). A CPU-scale
analogue on the continual-learning harness (``subspacelab.continual``): a small pretrained MLP, Split and Permuted
MNIST streams, CoSO against sequential fine-tuning, LoRA, GaLore without history and a fixed orthogonal subspace.
One run is one (stream, seed) of ``experiment.Experiment``."""

from subspacelab.papers.coso.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(id="coso", title="Continuous Subspace Optimization for Continual Learning")

__all__ = ["PAPER", "Experiment"]
