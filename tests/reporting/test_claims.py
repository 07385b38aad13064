"""Claims keep their kind and flags beside the verdict; counts keep paper claims and checks apart."""

import pytest

from subspacelab.reporting import evaluate_claim
from subspacelab.reporting.claims import counts
from subspacelab.reporting.render import comparison_markdown


def rule(claim, rows):
    return {"value": len(rows)}, claim["derive"]["says"], ""


CLAIMS = [
    {
        "id": "a",
        "kind": "paper",
        "statement": "s",
        "paper_value": 1,
        "source": "Table 1",
        "criterion": "c",
        "derive": {"rule": "r", "says": "reproduced"},
        "flags": {"stand_in": "small data"},
    },
    {
        "id": "b",
        "kind": "paper",
        "statement": "s",
        "paper_value": 2,
        "source": "Fig. 2",
        "criterion": "c",
        "derive": {"rule": "r", "says": "not_reproduced"},
    },
    {
        "id": "budget",
        "kind": "check",
        "statement": "fast",
        "paper_value": "< 30 min",
        "source": "ours",
        "criterion": "c",
        "derive": {"rule": "total_minutes_below", "limit": 30},
    },
]
ROWS = [{"process_seconds": 60.0}]


def evaluated():
    return [evaluate_claim(c, ROWS, "cpu", {"r": rule}) for c in CLAIMS]


def test_kind_and_flags_travel_with_the_verdict():
    a, b, budget = evaluated()
    assert (a["kind"], a["flags"], a["verdict"]) == ("paper", {"stand_in": "small data"}, "reproduced")
    assert (b["flags"], b["verdict"]) == ({}, "not_reproduced")
    assert (budget["kind"], budget["verdict"], budget["measured"]["value"]) == ("check", "reproduced", 1.0)


def test_counts_never_mix_checks_into_paper_results():
    n = counts(evaluated())
    assert n["paper"] == {"reproduced": 1, "partly": 0, "not_reproduced": 1, "not_run": 0}
    assert n["check"]["reproduced"] == 1 and n["flags"] == {"stand_in": 1}


def test_report_puts_checks_in_their_own_table():
    meta = {
        "title": "T",
        "authors": "A",
        "venue": "V",
        "arxiv": "1",
        "code": "c",
        "scale": "cpu",
        "scale_description": "d",
        "n_runs": 1,
        "paper": "p",
    }
    md = comparison_markdown(meta, evaluated(), [], [], None)
    paper_part, checks_part = md.split("## Project checks")
    assert "**a**" in paper_part and "**budget**" not in paper_part and "**budget**" in checks_part
    assert "*stand-in*: small data" in paper_part
    assert (
        "Paper claims: 1 reproduced, 1 not reproduced (flagged: 1 stand-in). Project checks: 1 reproduced."
        in md
    )


def test_a_rule_returning_an_unknown_verdict_fails():
    bad = {**CLAIMS[0], "derive": {"rule": "r", "says": "sort of"}}
    with pytest.raises(ValueError, match="sort of"):
        evaluate_claim(bad, ROWS, "cpu", {"r": rule})


def test_accuracy_table_pivots_runs_by_model_and_d():
    from subspacelab.reporting.render import accuracy_table

    curve = {100: 0.50, 200: 0.80, 300: 0.87, 500: 0.90, 750: 0.93}
    FC = [
        {"data": "mnist", "model": "fc", "method": "full", "seed": s, "d": None, "test_acc": 0.98}
        for s in (0, 1)
    ]
    for s, c in ((0, curve), (1, {**curve, 300: 0.89})):
        FC += [
            {"data": "mnist", "model": "fc", "method": "intrinsic", "seed": s, "d": d, "test_acc": a}
            for d, a in c.items()
        ]
    table = accuracy_table(FC).splitlines()
    assert table[0] == "| data | model | full | d=100 | d=200 | d=300 | d=500 | d=750 |"
    assert table[2].startswith("| mnist | fc | 0.980 ± 0.000 | 0.500 ± 0.000 |")
    assert "0.880 ± 0.014" in table[2]  # d=300: seeds 0.87 and 0.89
