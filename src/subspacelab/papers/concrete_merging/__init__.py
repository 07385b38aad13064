"""Concrete subspace merging (Tang et al. 2023): several fine-tuned copies of one pretrained model merged by task
arithmetic through one shared mask over the parameters, the mask a continuous relaxation of a discrete (Concrete)
subset learned by minimising the merged model's prediction entropy on unlabelled test inputs. This package merges a
LeNet backbone pretrained by the pipeline and fine-tuned on four small image tasks, against task arithmetic, TIES,
an untrained mask and task arithmetic with a validated lambda (the maths: ``merging``; the mask's training:
``lit.concrete_merging``)."""

from subspacelab.papers.concrete_merging.experiment import Experiment  # noqa: F401
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="concrete_merging",
    title="Concrete Subspace Learning based Interference Elimination for Multi-task Model Fusion",
)
