"""Yerxa, Kuang, Simoncelli & Chung, "Learning Efficient Coding of Natural Images with Maximum Manifold Capacity
Representations" (NeurIPS 2023, arXiv 2303.03307). MMCR trains an encoder so that the centroids of each image's
augmented views span as many directions as possible: it minimises minus the nuclear norm of the centroid matrix
of L2-normalised view embeddings. This package trains MMCR, SimCLR and Barlow Twins (``subspacelab.selfsup``)
through Lightning at an equal view budget on Fashion-MNIST and compares their linear probes, kNN accuracy and
the geometry of their view manifolds."""

from subspacelab.papers.mmcr.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="mmcr",
    title="Learning Efficient Coding of Natural Images with Maximum Manifold Capacity Representations",
)

__all__ = ["PAPER", "Experiment"]
