"""Verdicts and the small helpers every paper's derive rules share.

A derive rule is ``fn(claim, rows) -> (measured, verdict, note)``; :class:`Verdict` is that triple with
names. ``measured`` is a dict whose ``value`` is what the report prints.

Verdicts: ``reproduced``, ``partly``, ``not_reproduced``, ``not_run``. A claim's ``kind`` says whose
statement it is (``paper``: the paper's, with its published value; ``check``: the project's own), and its
``flags`` say how far the comparison is from the paper's (see :data:`FLAGS`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

REPRODUCED, PARTLY, NOT, NOT_RUN = "reproduced", "partly", "not_reproduced", "not_run"
VERDICTS = (REPRODUCED, PARTLY, NOT, NOT_RUN)

PAPER, CHECK = "paper", "check"
KINDS = (PAPER, CHECK)

FLAGS = {
    "reconstructed": "the method or protocol is our reconstruction: the paper or its code could not be read",
    "post_hoc": "a threshold, tolerance or hyperparameter was set after seeing results on the evaluation data",
    "stand_in": "data, model or scale differs from the paper's",
}


class Verdict(NamedTuple):
    """What a derive rule returns."""

    measured: dict
    verdict: str
    note: str = ""


def not_run(reason: str, **measured: Any) -> Verdict:
    """No measurement for this claim (not implemented, not at this scale, no matching runs): say why."""
    return Verdict({"value": None, **measured}, NOT_RUN, reason)


def param(claim: dict, key: str, default: Any = None) -> Any:
    """A rule parameter: ``claim["derive"][key]`` (the contract's place for them), else ``claim[key]``,
    else ``default``."""
    derive = claim.get("derive") or {}
    return derive[key] if key in derive else claim.get(key, default)


def ladder(
    value: float | None, reproduced: float, partly: float | None = None, higher_is_better: bool = True
) -> str:
    """The verdict of ``value`` against two thresholds: ``reproduced`` when it is at least ``reproduced``
    (at most, with ``higher_is_better=False``), ``partly`` when it passes ``partly``, else not reproduced.
    ``None`` (nothing measured) is not reproduced."""
    if value is None:
        return NOT

    def passes(limit: float) -> bool:
        return value >= limit if higher_is_better else value <= limit

    if passes(reproduced):
        return REPRODUCED
    return PARTLY if partly is not None and passes(partly) else NOT


def holds(condition: bool, partial: bool = False) -> str:
    """``reproduced`` when the claim's condition holds, ``partly`` when only a weaker form does."""
    return REPRODUCED if condition else PARTLY if partial else NOT


def cap_for_one_seed(verdict: str, n: int) -> str:
    """A difference between arms measured with one seed is at most ``partly`` (no interval to exclude 0)."""
    return PARTLY if n < 2 and verdict == REPRODUCED else verdict


def factor_apart(measured: float, paper: float) -> float:
    """How many times apart two positive values are (>= 1; inf when either is not positive)."""
    if measured <= 0 or paper <= 0:
        return math.inf
    return max(measured / paper, paper / measured)
