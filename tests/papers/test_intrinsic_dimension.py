"""intrinsic_dimension: d_int from accuracy curves and the three derive rules."""

import pytest

from subspacelab.papers.intrinsic_dimension.claims import RULES
from subspacelab.papers.intrinsic_dimension.dint import dint
from subspacelab.reporting import evaluate_claim as _evaluate


def evaluate_claim(claim, rows, scale):
    return _evaluate(claim, rows, scale, RULES)


def rows_for(model, curve_by_seed, baseline_by_seed, data="mnist"):
    rows = [
        {"data": data, "model": model, "method": "full", "seed": s, "d": None, "test_acc": a}
        for s, a in baseline_by_seed.items()
    ]
    for s, curve in curve_by_seed.items():
        rows += [
            {"data": data, "model": model, "method": "intrinsic", "seed": s, "d": d, "test_acc": a}
            for d, a in curve.items()
        ]
    return rows


CURVE = {100: 0.50, 200: 0.80, 300: 0.87, 500: 0.90, 750: 0.93}
FC = rows_for("fc", {0: CURVE, 1: {**CURVE, 300: 0.89}}, {0: 0.98, 1: 0.98})


def test_dint_is_the_first_grid_d_reaching_the_threshold():
    rel = dint(FC, {"model": "fc"}, {"relative_to_baseline": 0.9})  # threshold 0.882
    assert rel["threshold"] == pytest.approx(0.882)
    assert rel["per_seed"] == {0: 500, 1: 300}
    assert rel["curve_value"] == 500  # the seed-mean curve at 300 is (0.87 + 0.89) / 2 = 0.88 < 0.882
    absolute = dint(FC, {"model": "fc"}, {"absolute": 0.9})
    assert absolute["per_seed"] == {0: 500, 1: 500} and absolute["curve_value"] == 500


def test_dint_not_reached_is_none():
    out = dint(FC, {"model": "fc"}, {"absolute": 0.99})
    assert out["curve_value"] is None and out["n"] == 0


def claim(rule_extra, paper_value=500, **kw):
    return {
        "id": "c",
        "statement": "s",
        "paper_value": paper_value,
        "source": "x",
        "derive": {"rule": "dint", "select": {"model": "fc"}, **rule_extra},
        **kw,
    }


@pytest.mark.parametrize(
    ("paper", "verdict"),
    [(500, "reproduced"), (700, "reproduced"), (1200, "partly"), (5000, "not_reproduced")],
)
def test_numeric_verdicts_follow_the_tolerance_bands(paper, verdict):
    c = claim({"threshold": {"absolute": 0.9}}, paper_value=paper, tolerance={"reproduced": 1.5, "partly": 3})
    assert evaluate_claim(c, FC, "cpu")["verdict"] == verdict


def test_a_claim_for_another_scale_is_not_run():
    c = claim({"threshold": {"absolute": 0.9}}, scales=["paper"])
    out = evaluate_claim(c, FC, "cpu")
    assert out["verdict"] == "not_run" and "paper" in out["note"]


def test_less_than_and_spread_rules():
    lenet = rows_for("lenet", {0: {100: 0.85, 200: 0.91}}, {0: 0.99})
    rows = FC + lenet
    less = {
        "id": "l",
        "statement": "",
        "paper_value": "",
        "source": "",
        "derive": {
            "rule": "dint_less_than",
            "smaller": {"model": "lenet"},
            "larger": {"model": "fc"},
            "threshold": {"absolute": 0.9},
        },
    }
    assert evaluate_claim(less, rows, "cpu")["verdict"] == "partly"  # one seed of lenet: at most partly
    lenet2 = rows_for("lenet", {1: {100: 0.85, 200: 0.91}}, {1: 0.99})
    assert evaluate_claim(less, rows + lenet2, "cpu")["verdict"] == "reproduced"  # two seeds, each smaller
    spread = {
        "id": "s",
        "statement": "",
        "paper_value": "",
        "source": "",
        "derive": {
            "rule": "dint_spread",
            "groups": [{"model": "lenet"}, {"model": "fc"}],
            "threshold": {"absolute": 0.9},
            "max_grid_steps": 1,
        },
    }
    out = evaluate_claim(spread, rows, "cpu")
    assert out["measured"]["grid_steps_apart"] == 2  # 200 vs 500 on the grid 100, 200, 300, 500, 750
    assert out["verdict"] == "partly"


def test_unknown_rule_lists_the_valid_ones():
    with pytest.raises(KeyError, match="dint_spread"):
        evaluate_claim(claim({"threshold": {}}) | {"derive": {"rule": "magic"}}, FC, "cpu")
