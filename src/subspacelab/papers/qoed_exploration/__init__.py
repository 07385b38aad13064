"""Yu et al., "Learning What Matters: Adaptive Information-Theoretic Objectives for Robot Exploration" (QOED, RSS
2026). QOED eigen-analyses the Fisher information of past data to find an observable subspace, keeps one parameter
per identifiable direction, and explores by the information on those parameters once the others (nuisance) are
marginalised (a Schur complement). This package compares it with QOED-agnostic (no marginalisation), BOED (the
trace of the Fisher information) and random selection on a simulated differential-drive robot whose common
parameter scale is unidentifiable (``subspacelab.numerics.experimental_design``, ``numerics.diff_drive``)."""

from subspacelab.papers.qoed_exploration.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="qoed_exploration",
    title="Learning What Matters: Adaptive Information-Theoretic Objectives for Robot Exploration",
)

__all__ = ["PAPER", "Experiment"]
