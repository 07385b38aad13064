"""Multi-Subspace Multi-Modal Modeling for Diffusion Models (Yang, Li, Jiang, Chen, Li; arXiv 2601.01475,
ICLR 2026; no official code): a mixture-of-experts score whose expert k is the closed-form score of a latent
mixture of Gaussians in subspace k (MoLR-MoG). An experiment paper: one run is the synthetic study at one
ambient dimension D (the MoG, Gaussian and MLP scores against the closed form, over a grid of training-set
sizes) or the MNIST study (per-digit PCA subspaces with latent experts, judged by a classifier)."""

from subspacelab.papers.molr_mog.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="molr_mog",
    title="Multi-Subspace Multi-Modal Modeling for Diffusion Models: Estimation, Convergence and Mixture of Experts",
)

__all__ = ["PAPER", "Experiment"]
