"""Check ``--paper`` and ``--scale`` of a pipeline command before anything slow starts (Hydra, DVC, training).

An unknown paper or a scale its contract does not define is a one-line user error naming the Makefile variable
and the valid values, instead of DVC's "stage report-<scale> not found" after a minute of work.
"""

from __future__ import annotations

from subspacelab.errors import UserError


def check_target(paper: str, scale: str) -> list[str]:
    """Raise :class:`UserError` unless ``paper`` is registered and defines ``scale``; return its scales.

    Reads the contract's scales only (a fraction of a second); the full contract check (its claims' rules
    import the paper's code) comes when the grid is planned, and fails there naming the file and key."""
    from subspacelab.config.contract import load
    from subspacelab.papers import registry

    if paper not in registry.PAPER_IDS:
        raise UserError(f"PAPER: unknown paper {paper!r}; valid: {', '.join(registry.PAPER_IDS)}")
    scales = list(load(paper).get("scales") or {})
    if scale not in scales:
        raise UserError(f"SCALE: paper {paper} has no scale {scale!r}; valid: {', '.join(scales)}")
    return scales
