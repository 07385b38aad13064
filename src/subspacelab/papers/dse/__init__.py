"""Assessing Neural Network Representations During Training Using Noise-Resilient Diffusion Spectral Entropy
(Liao, Liu et al., CISS 2024, arXiv:2312.04823): diffusion spectral entropy (DSE) as a noise-resilient measure
of intrinsic dimension on toy manifolds, and DSE / diffusion spectral mutual information (DSMI) of a network's
penultimate layer along training with clean or permuted labels. One run is one study of ``experiment.Experiment``."""

from subspacelab.papers.dse.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="dse",
    title="Assessing Neural Network Representations During Training Using Noise-Resilient "
    "Diffusion Spectral Entropy",
)

__all__ = ["PAPER", "Experiment"]
