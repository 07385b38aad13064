"""Representational Capacity (Guha 2026, arXiv 2606.02765): how many near-orthogonal directions fit in R^d.
A run is either the packing grid (k unit vectors in R^d optimised on sum |cos|^p, against random packings,
with the JL, k/d and fully parameterised forms fitted on a checkerboard half of the grid and scored on the
other) or the ε = μ + 2σ of embedding matrices (random Gaussian ones and all-MiniLM-L6-v2's)."""

from subspacelab.papers.representational_capacity.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="representational_capacity",
    title="Representational Capacity: Geometric Limits on Feature Representation in Transformer Language Models",
)

__all__ = ["PAPER", "Experiment"]
