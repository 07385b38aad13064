"""Measuring the Intrinsic Dimension of Objective Landscapes (Li et al., ICLR 2018): training in a random
d-dimensional subspace θ = θ0 + P z of the full parameter space (``method=intrinsic``)."""

from subspacelab.papers.spec import Paper

PAPER = Paper(id="intrinsic_dimension", title="Measuring the Intrinsic Dimension of Objective Landscapes")
