"""Accurate Estimation of Mutual Information in High Dimensional Data (Abdelaleem, Martini, Nemenman,
arXiv:2506.00330): KSG, plain InfoNCE and the subsample-and-extrapolate protocol (max-test critics on gamma
disjoint subsets, weighted linear extrapolation to infinite N with an interval and consistency checks; separable
or VSIB critics) on synthetic data of known MI embedded in K = 500 dimensions. One run is one data model of
``experiment.Experiment``; the maths is in ``subspacelab.analysis.mi_protocol`` and ``analysis.information``."""

from subspacelab.papers.mi_estimation.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(id="mi_estimation", title="Accurate Estimation of Mutual Information in High Dimensional Data")

__all__ = ["PAPER", "Experiment"]
