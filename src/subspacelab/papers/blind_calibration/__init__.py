"""Through the Haze: a Non-Convex Approach to Blind Gain Calibration for Linear Random Sensing Models
(Cambareri & Jacques, arXiv 1610.09028). Projected gradient descent on the blind-calibration least squares,
as reconstructed from the abstracts (``subspacelab.numerics.blind_calibration``): phase transitions in the
number of snapshots with and without subspace priors, and the error under additive noise, against ALS and
linear least-squares baselines."""

from subspacelab.papers.blind_calibration.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="blind_calibration",
    title="Through the Haze: a Non-Convex Approach to Blind Gain Calibration for Linear Random Sensing Models",
)

__all__ = ["PAPER", "Experiment"]
