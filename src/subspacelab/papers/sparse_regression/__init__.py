"""Sparse Linear Regression is Easy on Random Supports (Chandrasekaran, Meka, Stavropoulos; arXiv
2511.06211): for any design and a uniformly random support, a two-phase algorithm (a preconditioner, then a
solver) reaches prediction error ε with poly(k, log d, 1/ε) samples. That algorithm (§4–§5) is not
implemented here — its construction could not be read — so its claim is not run; this package measures our
baselines (Lasso, OMP, least squares) on easy and ill-conditioned designs with random and adversarial
supports."""

from subspacelab.papers.sparse_regression.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(id="sparse_regression", title="Sparse Linear Regression is Easy on Random Supports")

__all__ = ["PAPER", "Experiment"]
