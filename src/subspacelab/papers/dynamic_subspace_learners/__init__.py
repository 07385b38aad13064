"""Attention-based Dynamic Subspace Learners (ADSL; Adiga Vasudeva, Dolz, Lombaert, IEEE JBHI 2022): metric learning
in which the embedding's neurons are split into learners, each trained on one k-means cluster of the data
(divide and conquer), and new learners are added while training when the clustering score stalls, from the neurons
a first-order Taylor criterion ranks as unimportant. This package compares the dynamic learners with fixed numbers of
learners, one learner and a classification network on a Fashion-MNIST stand-in (the maths: ``subspacelab.metric``;
the training: ``lit.subspace_learners``)."""

from subspacelab.papers.dynamic_subspace_learners.experiment import Experiment  # noqa: F401
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="dynamic_subspace_learners",
    title="Attention-based Dynamic Subspace Learners for Medical Image Analysis",
)
