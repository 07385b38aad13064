"""Wang et al., "TreeSynth: Synthesizing Diverse Data from Scratch via Tree-Guided Subspace Partitioning" (arXiv
2503.17195). TreeSynth partitions a task's data space with a tree whose nodes split on one attribute into mutually
exclusive and exhaustive values, allocates the data uniformly over the leaves (atomic subspaces) and generates
inside each; the same tree rebalances an existing dataset. This package runs the LLM-free version of the
project notes (``subspacelab.synthesis``): templated word problems, a biased generator in place of the LLM, and a
small classifier trained (through Lightning) on each synthetic set and tested on the whole space."""

from subspacelab.papers.spec import Paper
from subspacelab.papers.treesynth.experiment import Experiment

PAPER = Paper(
    id="treesynth",
    title="TreeSynth: Synthesizing Diverse Data from Scratch via Tree-Guided Subspace Partitioning",
)

__all__ = ["PAPER", "Experiment"]
