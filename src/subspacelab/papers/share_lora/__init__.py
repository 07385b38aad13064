"""Shared LoRA Subspaces for almost Strict Continual Learning (Share; Kaushik, Vaidya, Chaudhari, Chellappa,
Yuille, arXiv:2602.06043): the LoRA adapters of a stream of tasks share one low-rank basis per side, each task
keeps only small coefficients, and after every task the basis is rebuilt by an SVD and old tasks' coefficients are
re-projected analytically (no data, no replay). A CPU-scale analogue on the continual-learning harness
(``subspacelab.continual``): a small pretrained MLP, Split and Permuted MNIST streams, Share against one LoRA adapter
per task, one sequentially trained LoRA and joint training. One run is one (stream, seed) of
``experiment.Experiment``."""

from subspacelab.papers.share_lora.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(id="share_lora", title="Shared LoRA Subspaces for almost Strict Continual Learning")

__all__ = ["PAPER", "Experiment"]
