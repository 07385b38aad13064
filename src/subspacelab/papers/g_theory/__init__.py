"""Lu, "A Semantic Generalization of Shannon's Information Theory and Applications" (G theory; Entropy 2025),
whose machine-learning algorithms come from Lu 2019 (Information 10:261) and the channels' matching papers.
A semantic channel is a set of truth functions; semantic mutual information is bounded by Shannon's. This
package reproduces three of its algorithmic claims with ``subspacelab.numerics.semantic_information``: the
channels' matching (CM) iteration for maximum-mutual-information classification, CM-EM against EM on
imbalanced Gaussian mixtures, and truth functions learned by logical Bayesian inference under a class-prior
shift (iris, wine) against logistic regression."""

from subspacelab.papers.g_theory.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="g_theory", title="A Semantic Generalization of Shannon's Information Theory and Applications"
)

__all__ = ["PAPER", "Experiment"]
