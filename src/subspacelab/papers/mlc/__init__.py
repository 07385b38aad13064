"""Unsupervised Manifold Linearizing and Clustering (Ding, Tong, Chan, Dai, Ma & Haeffele, ICCV 2023, arXiv
2301.01805): a network pre-trained with total coding rate (TCR) is trained further to maximise the coding rate of
its features while minimising the rate of the clusters given by a doubly stochastic membership Γ (Sinkhorn of
the cluster head's similarities), so that each cluster's features lie near a low-dimensional subspace; here a
CPU-scale analogue on MNIST and Fashion-MNIST with EnSC / SSC-OMP / k-means baselines."""

from subspacelab.papers.mlc.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(id="mlc", title="Unsupervised Manifold Linearizing and Clustering")

__all__ = ["PAPER", "Experiment"]
