"""The shared report toolkit: verdict helpers, statistics against scipy/closed forms, the figure helper."""

import math

import numpy as np
import pytest
from scipy import stats as st

from subspacelab.reporting import stats
from subspacelab.reporting.figures import figure
from subspacelab.reporting.verdict import (
    NOT,
    NOT_RUN,
    PARTLY,
    REPRODUCED,
    cap_for_one_seed,
    factor_apart,
    holds,
    ladder,
    not_run,
    param,
)


def test_ladder_bands_in_both_directions():
    assert ladder(0.30, reproduced=0.2, partly=0.1) == REPRODUCED
    assert ladder(0.15, reproduced=0.2, partly=0.1) == PARTLY
    assert ladder(0.05, reproduced=0.2, partly=0.1) == NOT
    assert ladder(0.05, reproduced=0.2) == NOT
    assert ladder(0.004, reproduced=0.01, partly=0.05, higher_is_better=False) == REPRODUCED
    assert ladder(0.03, reproduced=0.01, partly=0.05, higher_is_better=False) == PARTLY
    assert ladder(None, reproduced=0.0) == NOT


def test_not_run_param_holds_cap_and_factor():
    m, v, note = not_run("not implemented", arms=2)
    assert (m, v, note) == ({"value": None, "arms": 2}, NOT_RUN, "not implemented")
    claim = {"id": "c", "derive": {"rule": "r", "k": 3}, "k2": 4}
    assert (param(claim, "k"), param(claim, "k2"), param(claim, "k3", 5)) == (3, 4, 5)
    assert holds(True) == REPRODUCED and holds(False, partial=True) == PARTLY and holds(False) == NOT
    assert cap_for_one_seed(REPRODUCED, 1) == PARTLY and cap_for_one_seed(REPRODUCED, 2) == REPRODUCED
    assert cap_for_one_seed(NOT, 1) == NOT
    assert factor_apart(750, 500) == pytest.approx(1.5) and factor_apart(500, 750) == pytest.approx(1.5)
    assert factor_apart(0, 1) == math.inf


def test_t_interval_matches_scipy():
    x = [0.51, 0.48, 0.55, 0.50]
    iv = stats.t_interval(x)
    lo, hi = st.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=st.sem(x))
    assert (iv.lo, iv.hi, iv.n) == (pytest.approx(lo), pytest.approx(hi), 4)
    assert iv.excludes(0.0) and not iv.excludes(0.5)
    one = stats.t_interval([0.5])
    assert one.n == 1 and math.isnan(one.lo) and not one.excludes(0.0)


def test_difference_interval_welch_and_paired():
    a, b = [0.52, 0.55, 0.50], [0.50, 0.49, 0.51]
    welch = stats.difference_interval(a, b)
    t = st.ttest_ind(a, b, equal_var=False)
    ci = t.confidence_interval(0.95)
    assert (welch.lo, welch.hi) == (pytest.approx(ci.low), pytest.approx(ci.high))
    paired = stats.difference_interval(a, b, paired=True)
    assert paired.mean == pytest.approx(np.mean(np.subtract(a, b)))
    with pytest.raises(ValueError, match="paired"):
        stats.difference_interval([1, 2], [1], paired=True)


def test_loglog_slope_recovers_a_power_law_and_its_interval_covers_it():
    rng = np.random.default_rng(0)
    x = np.logspace(1, 4, 12)
    y = 3.0 * x**1.2 * np.exp(rng.normal(0, 0.05, x.size))
    s = stats.loglog_slope(x, y)
    assert s.contains(1.2) and s.lo < s.slope < s.hi and s.r2 > 0.99 and s.n == 12
    exact = stats.loglog_slope([1, 10, 100], [2, 20, 200])
    assert exact.slope == pytest.approx(1.0) and exact.hi - exact.lo == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="two distinct"):
        stats.loglog_slope([5, 5], [1, 2])


def test_bootstrap_is_seeded_and_brackets_the_mean():
    x = np.arange(20.0)
    a, b = stats.bootstrap_interval(x, seed=1), stats.bootstrap_interval(x, seed=1)
    assert (a.lo, a.hi) == (b.lo, b.hi) and a.lo < 9.5 < a.hi


def test_figure_saves_and_closes(tmp_path):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    with figure(tmp_path / "sub" / "f.png", ncols=2) as (fig, axes):
        assert len(axes) == 2
        axes[0].plot([1, 2], [3, 4])
    assert (tmp_path / "sub" / "f.png").stat().st_size > 0
    assert len(plt.get_fignums()) == before
    with pytest.raises(RuntimeError), figure(tmp_path / "g.png") as (fig, ax):
        raise RuntimeError("boom")
    assert not (tmp_path / "g.png").exists() and len(plt.get_fignums()) == before
