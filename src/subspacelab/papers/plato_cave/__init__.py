"""Hadgi, Moschella, Santilli, Gomez, Huang, Rodolà, Melzi & Ovsjanikov, "Escaping Plato's Cave: Towards the
Alignment of 3D and Text Latent Spaces" (CVPR 2025, arXiv 2503.05283). Uni-modal 3D and text encoders align
poorly after training; projecting both feature spaces onto a few canonical (CCA) directions fitted on paired
anchors before an affine map or local-CKA matching makes matching and retrieval much better. This package runs
that alignment (``subspacelab.analysis.alignment``) on two self-trained stand-in modalities of MNIST digits: point
clouds of the ink and generated captions, each encoder trained alone through Lightning."""

from subspacelab.papers.plato_cave.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="plato_cave", title="Escaping Plato's Cave: Towards the Alignment of 3D and Text Latent Spaces"
)

__all__ = ["PAPER", "Experiment"]
