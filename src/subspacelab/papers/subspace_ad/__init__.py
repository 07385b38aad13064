"""Lendering, Akdag & Bondarev, "SubspaceAD: Training-Free Few-Shot Anomaly Detection via Subspace Modeling"
(CVPR 2026, arXiv 2602.23013). SubspaceAD fits one PCA to the patch features that a frozen backbone gives a few
normal images (and their rotated copies) and scores a test patch by its squared residual off the principal
subspace keeping 99% of the variance. This package runs the official code's scoring
(``subspacelab.detection``) on Fashion-MNIST categories with synthetic local defects, a small CNN trained by the
pipeline (through Lightning) standing in for DINOv2, against a nearest-patch memory bank and a Gaussian."""

from subspacelab.papers.spec import Paper
from subspacelab.papers.subspace_ad.experiment import Experiment

PAPER = Paper(
    id="subspace_ad", title="SubspaceAD: Training-Free Few-Shot Anomaly Detection via Subspace Modeling"
)

__all__ = ["PAPER", "Experiment"]
