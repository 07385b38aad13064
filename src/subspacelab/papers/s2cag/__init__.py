"""Spectral Subspace Clustering for Attributed Graphs (Lin, Yang, Zheng & Ke, KDD 2025, arXiv:2411.11074):
S2CAG and M-S2CAG, which cluster an attributed graph from a truncated SVD (or a modularity-weighted
eigenproblem) of its propagated attributes, compared here with classical self-expressive baselines on the
paper's graphs that are available offline and on contextual SBMs, and timed on graphs of growing size."""

from subspacelab.papers.s2cag.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(id="s2cag", title="Spectral Subspace Clustering for Attributed Graphs")

__all__ = ["PAPER", "Experiment"]
