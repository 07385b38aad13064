"""Diffusion Models Learn Low-Dimensional Distributions via Subspace Clustering (Wang, Zhang, Zhang, Chen, Ma,
Qu; arXiv 2409.02426; code huijieZH/Diffusion-Model-Generalizability): on a mixture of low-rank Gaussians
(MoLRG), training a low-rank denoiser is subspace clustering, and subspace recovery shows a phase transition
at N ≈ d_k samples per subspace. An experiment paper: one run is one (K, d_k, seed) cell sweeping N, training
the low-rank DAE, K-subspaces and a generic MLP denoiser on the same samples."""

from subspacelab.papers.molrg_diffusion.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="molrg_diffusion", title="Diffusion Models Learn Low-Dimensional Distributions via Subspace Clustering"
)

__all__ = ["PAPER", "Experiment"]
