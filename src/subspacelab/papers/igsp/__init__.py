"""iGSP (Cui et al. 2026): continual learning with mixture-of-experts low-rank adapters that first identifies the
subspace a new task needs (candidate experts, a penalty that pushes the routing onto the historical experts,
pruning by routing mass), then fine-tunes the surviving experts orthogonally to the historical ones. The method is
unreleased: this package reconstructs it on the continual-learning harness (``continual.moe``) against isolated
experts per task and similarity-driven sharing, on a stream whose tasks come in visually identical, logically
different pairs."""

from subspacelab.papers.igsp.experiment import Experiment  # noqa: F401
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="igsp",
    title="iGSP: Implicit Gradient Subspace Projection for Efficient Continual Learning of Vision-Language Models",
)
