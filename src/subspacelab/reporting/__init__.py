"""Claims, derive rules, verdicts, tables and plots: turn run metrics into a paper-vs-measured report."""

from subspacelab.reporting.claims import evaluate_claim, evaluate_claims

__all__ = ["evaluate_claim", "evaluate_claims"]
