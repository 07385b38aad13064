"""g_theory: the experiment's parts at tiny sizes, its config checks, and the derive rules on hand-made rows
(the maths itself: tests/numerics/test_semantic_information.py)."""

from __future__ import annotations

import numpy as np
import pytest

from subspacelab.configurable import ConfigError
from subspacelab.papers.g_theory.claims import RULES
from subspacelab.papers.g_theory.experiment import ARMS, Experiment
from subspacelab.papers.g_theory.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"part": "nope"}, "experiment.part"),
        ({"part": "prior_shift"}, "experiment.dataset"),
        ({"part": "mmi", "dataset": "iris"}, "experiment.dataset"),
        ({"ratio": 1.0}, "experiment.ratio"),
        ({"class_covs": [[1.0, 2.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]}, "experiment.class_covs"),
        ({"x_grid": [1.0, 0.0, 50.0]}, "experiment.x_grid"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=key):
        Experiment(**kw)


def test_mmi_run_is_monotone_and_bounded_by_its_reference(tmp_path):
    m = Experiment(part="mmi", grid=14, starts=4, cm_iterations=4, hill_climb_from=1).run(0, tmp_path)
    frac = np.array(m["mi_fraction"])
    assert frac.shape == (4, 5) and frac.max() <= 1 + 1e-12
    assert m["min_mi_increase_bits"] >= -1e-12 and m["min_shannon_minus_semantic_bits"] >= -1e-12
    assert 0 < m["mmi_bits"] <= m["h_x_bits"]
    again = Experiment(part="mmi", grid=14, starts=4, cm_iterations=4, hill_climb_from=1).run(0, tmp_path)
    assert again["mi_fraction"] == m["mi_fraction"]  # seeded


def test_mixture_run_shares_initialisations_and_reports_both_algorithms(tmp_path):
    m = Experiment(part="mixture", ratio=0.9, inits=2, max_iter=400, x_grid=[-6.0, 10.0, 161.0]).run(
        1, tmp_path
    )
    assert len(m["trials"]) == 2
    for t in m["trials"]:
        assert t["em_e_steps"] == t["em_iterations"] and t["cm_em_e_steps"] >= t["cm_em_iterations"]
        assert np.all(np.diff(t["em_kl_trace"]) <= 1e-12) and t["em_kl_trace"][0] == t["cm_em_kl_trace"][0]


def test_prior_shift_run_scores_every_arm(tmp_path):
    m = Experiment(part="prior_shift", dataset="iris", shifts=2, test_size=40, bandwidths=[0.5]).run(
        0, tmp_path
    )
    for a in ARMS:
        assert 0 <= m[f"{a}_ece"] <= 1 and m[f"{a}_log_loss"] > 0 and 0 <= m[f"{a}_accuracy"] <= 1
    assert m["bandwidths_chosen"] == [0.5, 0.5, 0.5] and m["n_train"] == 75


def _mmi_row(seed, fractions):
    return {
        "part": "mmi",
        "seed": seed,
        "mi_fraction": fractions,
        "mmi_bits": 1.0,
        "map_partition_bits": 0.99,
        "min_mi_increase_bits": 0.0,
        "min_shannon_minus_semantic_bits": 1e-9,
        "min_semantic_minus_previous_bits": 0.0,
    }


MMI_CLAIM = {"derive": {"rule": "g_theory_mmi_fraction", "iterations": 3, "level": 0.99, "reproduced": 0.8}}


def test_mmi_rule_follows_its_thresholds():
    good = [[0.5, 0.9, 0.995, 0.999]] * 9 + [[0.5, 0.6, 0.7, 0.8]]
    bad = [[0.5, 0.9, 0.95, 0.98]] * 10
    half = [[0.5, 0.9, 0.995, 0.999]] * 6 + [[0.5, 0.6, 0.7, 0.8]] * 4
    rule = RULES["g_theory_mmi_fraction"]
    assert rule(MMI_CLAIM, [_mmi_row(0, good), _mmi_row(1, good)]).verdict == REPRODUCED
    assert rule(MMI_CLAIM, [_mmi_row(0, good)]).verdict == PARTLY  # one run: no interval
    assert rule(MMI_CLAIM, [_mmi_row(0, half), _mmi_row(1, half)]).verdict == PARTLY
    assert rule(MMI_CLAIM, [_mmi_row(0, bad), _mmi_row(1, bad)]).verdict == NOT
    assert rule(MMI_CLAIM, [{"part": "mixture"}]).verdict == NOT_RUN


def test_monotone_rule_fails_on_a_decrease():
    claim = {"derive": {"rule": "g_theory_cm_monotone", "tolerance": 1e-10}}
    row = _mmi_row(0, [[1.0]])
    assert RULES["g_theory_cm_monotone"](claim, [row]).verdict == REPRODUCED
    assert RULES["g_theory_cm_monotone"](claim, [{**row, "min_mi_increase_bits": -1e-3}]).verdict == NOT


def _mix_row(seed, ratio, em_it, cm_it, em_kl=1e-7, cm_kl=1e-7):
    return {
        "part": "mixture",
        "seed": seed,
        "ratio": ratio,
        "em_median_iterations": em_it,
        "cm_em_median_iterations": cm_it,
        "em_mean_final_kl": em_kl,
        "cm_em_mean_final_kl": cm_kl,
        "em_median_e_steps": em_it,
        "cm_em_median_e_steps": 10 * cm_it,
    }


def test_cmem_rule_counts_faster_or_better_per_ratio():
    claim = {"derive": {"rule": "g_theory_cmem_vs_em", "ratios": [0.9, 0.97]}}
    rule = RULES["g_theory_cmem_vs_em"]
    faster = [_mix_row(s, r, 200 + s, 60 + s) for s in range(3) for r in (0.9, 0.97)]
    assert rule(claim, faster).verdict == REPRODUCED
    better_only = [_mix_row(s, 0.9, 100, 100, 1e-2 + s * 1e-3, 1e-7) for s in range(3)]
    same = [_mix_row(s, 0.97, 100 + s, 100 - s) for s in range(3)]
    assert rule(claim, better_only + same).verdict == PARTLY
    slower = [_mix_row(s, r, 60 + s, 200) for s in range(3) for r in (0.9, 0.97)]
    assert rule(claim, slower).verdict == NOT
    assert rule(claim, [_mix_row(0, 0.9, 200, 60), _mix_row(0, 0.97, 200, 60)]).verdict == PARTLY  # one seed
    # with same_fit_bits, stopping sooner at a worse fit is not converging faster
    guarded = {"derive": {**claim["derive"], "same_fit_bits": 1e-4}}
    sooner_worse = [_mix_row(s, r, 200 + s, 60 + s, 1e-7, 5e-2) for s in range(3) for r in (0.9, 0.97)]
    assert rule(claim, sooner_worse).verdict == REPRODUCED and rule(guarded, sooner_worse).verdict == NOT
    assert rule(guarded, faster).verdict == REPRODUCED


def test_balanced_control_rule():
    claim = {"derive": {"rule": "g_theory_cmem_control", "ratio": 0.5, "max_iteration_factor": 1.25}}
    rule = RULES["g_theory_cmem_control"]
    assert rule(claim, [_mix_row(0, 0.5, 100, 110)]).verdict == REPRODUCED
    assert rule(claim, [_mix_row(0, 0.5, 100, 200)]).verdict == PARTLY
    assert rule(claim, [_mix_row(0, 0.5, 100, 200, 1e-7, 1e-2)]).verdict == NOT


def _shift_row(seed, dataset, lbi_ll, lr_ll, lbi_ece, adj_ll=0.2):
    row = {"part": "prior_shift", "seed": seed, "dataset": dataset}
    for a, ll, ece in (("lbi_kde", lbi_ll, lbi_ece), ("lr", lr_ll, 0.2), ("lr_adjusted", adj_ll, 0.05)):
        row.update({f"{a}_log_loss": ll, f"{a}_ece": ece})
    row.update({"lbi_kde_old_prior_log_loss": 0.5, "lbi_kde_old_prior_ece": 0.2})
    return row


def test_prior_shift_rules():
    claim = {"derive": {"rule": "g_theory_prior_shift", "datasets": ["iris", "wine"], "max_ece": 0.1}}
    rule = RULES["g_theory_prior_shift"]
    good = [_shift_row(s, d, 0.1 + 0.01 * s, 0.3, 0.05) for s in range(3) for d in ("iris", "wine")]
    assert rule(claim, good).verdict == REPRODUCED
    one = [_shift_row(s, "iris", 0.1 + 0.01 * s, 0.3, 0.05) for s in range(3)]
    one += [_shift_row(s, "wine", 0.5 + 0.01 * s, 0.3, 0.3) for s in range(3)]
    assert rule(claim, one).verdict == PARTLY
    bad = [_shift_row(s, d, 0.5 + 0.01 * s, 0.3, 0.3) for s in range(3) for d in ("iris", "wine")]
    assert rule(claim, bad).verdict == NOT
    ctl = {"derive": {"rule": "g_theory_vs_control", "datasets": ["iris", "wine"], "margin": 0.05}}
    assert RULES["g_theory_vs_control"](ctl, good).verdict == REPRODUCED
    assert RULES["g_theory_vs_control"](ctl, bad).verdict == NOT


def test_figures_and_tables_from_hand_made_rows(tmp_path):
    rows = [_mmi_row(0, [[0.5, 0.9, 0.995]])]
    rows += [
        {**_mix_row(0, r, 100, 50), "em_frac_reached_target": 1.0, "cm_em_frac_reached_target": 1.0}
        for r in (0.5, 0.9)
    ]
    rows += [
        {
            **_shift_row(0, "iris", 0.1, 0.3, 0.05),
            **{f"{a}_{k}": 0.5 for a in ARMS for k in ("brier", "accuracy")},
        }
        | {"unshifted": {a: {"log_loss": 0.1} for a in ARMS}}
    ]
    paths = figures(rows, tmp_path)
    assert len(paths) == 3 and all(p.is_file() for p in paths)
    text = tables(rows)
    assert "0.9/0.1" in text and "iris" in text
