"""Myara, Bourriez, Boyer, Lemercier, Bendidi & Genovesio, "XFactors: Disentangled Information Bottleneck via
Contrastive Supervision" (arXiv 2601.21688). A VAE whose latent splits into a free block S and one small block per
known factor, each shaped by a supervised InfoNCE on its factor's labels, so that each factor lives in its own
block and can be swapped between images. This package trains it and β-VAE/VAE baselines through Lightning
(``subspacelab.disentangle``) on a generated dSprites and scores them with the code's DCI and FactorVAE metrics."""

from subspacelab.papers.spec import Paper
from subspacelab.papers.xfactors.experiment import Experiment

PAPER = Paper(
    id="xfactors", title="XFactors: Disentangled Information Bottleneck via Contrastive Supervision"
)

__all__ = ["PAPER", "Experiment"]
