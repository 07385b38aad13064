"""Cheng et al., "Information Shapes Koopman Representation" (ICLR 2026, arXiv 2510.13025). A Koopman autoencoder
whose latents should be both simple (temporal mutual information, an InfoNCE over each sequence) and expressive (the
von Neumann entropy of the latent covariance), with the operator fitted in closed form per batch. This package
trains the authors' loss (``subspacelab.dynamics.koopman``, through Lightning) on three classic systems with four
objectives: plain, +MI, +MI with the entropy maximised (the abstract) and minimised (the released code)."""

from subspacelab.papers.koopman_ib.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(id="koopman_ib", title="Information Shapes Koopman Representation")

__all__ = ["PAPER", "Experiment"]
