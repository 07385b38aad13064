"""Comp-LoRA (Wang et al. 2025): LoRA whose update is kept out of the pretrained weight's principal singular
subspace, so that few-shot tuning leaves the directions that carry the pretrained ability alone. This package adapts
an MLP pretrained by the pipeline on MNIST to a 16-shot Fashion-MNIST task with a new head, by the head alone, LoRA,
Comp-LoRA and full fine-tuning, and scores few-shot accuracy and MNIST retention through the old head (the layer:
``lowrank.complement``; training: ``lit.classifier.fit_classifier``)."""

from subspacelab.papers.comp_lora.experiment import Experiment  # noqa: F401
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="comp_lora",
    title="Complementary Subspace Low-Rank Adaptation of Vision-Language Models for Few-Shot Classification",
)
