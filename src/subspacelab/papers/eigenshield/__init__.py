"""EigenShield (Darabi et al. 2025): an inference-time defence that projects a model's embeddings onto a "causal"
subspace: the Marchenko-Pastur spikes of clean embeddings that stay put when the inputs are perturbed. This package
fits the filter to a LeNet-5 trained by the pipeline on CIFAR-10 and scores it against FGSM and PGD, crafted on the
undefended model and through the defence, beside the spikes without the filter, PCA and a random subspace of the
same size (the maths: ``defences.causal_subspace``; attacks: torchattacks)."""

from subspacelab.papers.eigenshield.experiment import Experiment  # noqa: F401
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="eigenshield",
    title="EigenShield: Causal Subspace Filtering via Random Matrix Theory for Adversarially Robust Vision-Language Models",
)
