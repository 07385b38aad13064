"""``reporting.paired.paired_verdict``: each comparison's t-interval against the margin, the verdict ladder, and
the one-seed cap."""

import pytest
from scipy import stats

from subspacelab.reporting.paired import paired_verdict
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED


def test_the_interval_is_the_t_interval_of_the_differences():
    _, ivs, n = paired_verdict({"a": [1.0, 2.0, 3.0]})
    half = stats.t.ppf(0.975, 2) * 1.0 / 3**0.5  # sd 1, n 3
    assert n == 3 and ivs["a"].mean == 2.0 and ivs["a"].lo == pytest.approx(2.0 - half)


@pytest.mark.parametrize(
    "diffs,margin,expected",
    [
        ({"a": [1.0, 1.1, 0.9], "b": [2.0, 2.2, 1.9]}, 0.0, REPRODUCED),
        ({"a": [1.0, 1.1, 0.9], "b": [-1.0, 1.0, 0.1]}, 0.0, PARTLY),
        ({"a": [-1.0, 1.0, 0.1]}, 0.0, NOT),
        ({"a": [-0.01, -0.02, -0.015]}, 0.05, REPRODUCED),  # within the margin
        ({"a": [5.0]}, 0.0, PARTLY),  # one seed: no interval, at most partly
        ({"a": [-5.0]}, 0.0, NOT),
    ],
)
def test_the_verdict_ladder(diffs, margin, expected):
    assert paired_verdict(diffs, margin)[0] == expected


def test_no_values_give_no_verdict():
    assert paired_verdict({"a": []}) == (None, {}, 0)
