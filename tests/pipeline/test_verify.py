"""``make verify``: a committed report re-derived from its committed runs gives the same verdicts and numbers;
a report that no longer follows from its runs is caught, claim by claim."""

import copy
import json
from pathlib import Path

import pytest

from subspacelab.pipeline.verify import compare_claims, derive_report, main

PAPER = "intrinsic_dimension"  # one of the quickest reports to re-derive (~20 s)


def test_the_committed_report_follows_from_the_committed_runs_and_tampering_is_caught(tmp_path):
    committed = json.loads(Path(f"reports/{PAPER}/comparison.json").read_text())["claims"]
    derived = derive_report(PAPER, Path(f"runs/{PAPER}/cpu"), tmp_path)
    assert compare_claims(committed, derived, {}, 1e-9) == ([], False)

    claim = next(c for c in committed if _top_level_float(c))
    key = _top_level_float(claim)
    stale = copy.deepcopy(committed)
    old_verdict = next(c for c in stale if c["id"] == claim["id"])
    old_verdict["verdict"] = "reproduced" if claim["verdict"] != "reproduced" else "partly"
    lines, bad = compare_claims(stale, derived, {}, 1e-9)
    assert bad and lines == [f"  {claim['id']}: verdict {old_verdict['verdict']} -> {claim['verdict']}"]

    moved = copy.deepcopy(derived)
    next(c for c in moved if c["id"] == claim["id"])["measured"][key] *= 1.03  # a 3 % drift across machines
    assert compare_claims(committed, moved, {}, 0.05) == ([], False)
    lines, bad = compare_claims(committed, moved, {claim["id"]: 0.01}, 0.05)
    assert bad and lines[0].startswith(f"  {claim['id']}: measured.{key} ") and "(tolerance 0.01)" in lines[0]


def _top_level_float(claim: dict) -> str | None:
    measured = claim.get("measured")
    if not isinstance(measured, dict):
        return None
    return next((k for k, v in sorted(measured.items()) if isinstance(v, float) and v), None)


def test_a_paper_without_a_committed_report_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--paper", "no_such_paper"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "verify: reports/no_such_paper/comparison.json: no committed report; run make reproduce-paper PAPER=no_such_paper first"
    )
