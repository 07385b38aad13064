"""Sharper Bounds for ℓp Sensitivity Sampling (Woodruff & Yasuda, ICML 2023): sampling rows of A with
probabilities proportional to their ℓp sensitivities preserves ‖Ax‖_p up to 1 ± ε with roughly 𝔖^{2/p}
(p < 2) or 𝔖^{2-2/p} (p > 2) samples. The paper is theory only; this package measures how many samples
typical matrices of a family of ours need (m*(ε)) and compares its growth with 𝔖 against the bounds'
exponents, and compares sensitivity sampling with the paper's other schemes."""

from subspacelab.papers.lp_sensitivity.experiment import Experiment
from subspacelab.papers.spec import Paper

PAPER = Paper(id="lp_sensitivity", title="Sharper Bounds for ℓp Sensitivity Sampling")

__all__ = ["PAPER", "Experiment"]
