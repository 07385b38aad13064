"""Label-independent hyperparameter-free self-supervised single-view deep subspace clustering (Sindičić &
Kopriva, arXiv 2504.18179, 2025; code lovro-sinda/LIHFSS-SVDSC): a convolutional autoencoder trained in three
label-free stages (reconstruction, joint layer-wise self-expression with one coefficient matrix C, a
subspace-structured norm) with a relative-error stopping rule, read out by keeping k leading coefficients per
column and spectral clustering; compared with DSC-Net and label-tuned linear subspace clustering on face,
object and digit images."""

from subspacelab.papers.hf_dsc.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="hf_dsc",
    title="Label-independent hyperparameter-free self-supervised single-view deep subspace clustering",
)

__all__ = ["PAPER", "Experiment"]
