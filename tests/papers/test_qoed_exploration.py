"""qoed_exploration: the Fisher information and the three objectives against closed forms, the identifiable-set
selection on planted structure, the robot's unidentifiable direction, the estimator, and the derive rules."""

import numpy as np
import pytest

from subspacelab.configurable import ConfigError
from subspacelab.numerics import diff_drive as dd
from subspacelab.numerics import experimental_design as oed
from subspacelab.papers.qoed_exploration.claims import RULES, paired_gains
from subspacelab.papers.qoed_exploration.experiment import METHODS, Experiment
from subspacelab.papers.qoed_exploration.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED


def _spd(p: int, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((p, p))
    return a @ a.T + 0.5 * np.eye(p)


# --- Fisher information and objectives -------------------------------------------------------------------------


def test_fisher_of_a_linear_gaussian_model_is_a_transpose_a_over_sigma_squared():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 6, 4))  # T = 3 observations of 6 values, 4 parameters
    theta = rng.standard_normal(4)
    jac = oed.central_difference_jacobian(lambda th: np.einsum("toi,ki->kto", a, th), theta)
    assert jac.shape == (3, 6, 4)
    np.testing.assert_allclose(jac, a, atol=1e-10)
    f = oed.fisher_information(jac, noise_sd=0.05)
    np.testing.assert_allclose(f, sum(at.T @ at for at in a) / 0.05**2, rtol=1e-9)


def test_qoed_is_the_efficient_information_of_the_selected_block():
    f = _spd(6)
    mask = np.array([1, 0, 1, 1, 0, 0], bool)
    efficient = np.linalg.inv(np.linalg.inv(f)[np.ix_(mask, mask)])  # ((F^-1)_KK)^-1
    assert oed.qoed(f, mask, reg=0.0) == pytest.approx(np.trace(efficient), rel=1e-9)
    assert oed.qoed(f, mask) <= oed.qoed_agnostic(f, mask) + 1e-12  # marginalising never adds information
    assert oed.qoed_agnostic(f, mask) == pytest.approx(np.trace(f[np.ix_(mask, mask)]))
    assert oed.qoed(f, np.ones(6, bool)) == pytest.approx(oed.boed(f))
    assert oed.qoed(f, np.zeros(6, bool)) == 0.0


def test_without_coupling_qoed_equals_agnostic_and_it_is_batched():
    f = np.zeros((6, 6))
    f[:3, :3], f[3:, 3:] = _spd(3, 1), _spd(3, 2)
    mask = np.array([1, 1, 1, 0, 0, 0], bool)
    assert oed.qoed(f, mask, reg=0.0) == pytest.approx(oed.qoed_agnostic(f, mask))
    batch = np.stack([_spd(6, s) for s in range(4)])
    for name in oed.OBJECTIVES:
        np.testing.assert_allclose(
            oed.objective(name, batch, mask), [oed.objective(name, b, mask) for b in batch], rtol=1e-10
        )
    with pytest.raises(ValueError, match="objective"):
        oed.objective("aoed", batch, mask)


def test_selection_keeps_one_parameter_per_observable_direction():
    # parameters 0 and 1 enter only through their sum; 2 is observed alone; 3 is never observed
    rows = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    f = rows.T @ rows * 100
    mask = oed.select_identifiable(f, posterior_var=np.ones(4))
    assert mask[2] and not mask[3] and mask[:2].sum() == 1
    # a parameter already known (small posterior variance) is inactive
    assert not oed.select_identifiable(f, posterior_var=np.array([1.0, 1.0, 1e-4, 1.0]))[2]
    # no selection while the information is too small
    assert not oed.select_identifiable(f * 1e-5, posterior_var=np.ones(4)).any()


# --- the robot -----------------------------------------------------------------------------------------------


THETA = np.array([9.0, 11.0, 2.0, 1.2, 8.0, 0.9, 0.03])


def test_a_common_scale_of_the_physical_parameters_is_unidentifiable():
    robot = dd.Robot()
    rng = np.random.default_rng(0)
    states, controls = rng.standard_normal((50, 5)), rng.uniform(-1, 1, (50, 2))
    scaled = THETA * np.r_[[2.5] * 6, 1.0]
    np.testing.assert_allclose(
        robot.predict(states, controls, scaled), robot.predict(states, controls, THETA)
    )
    np.testing.assert_allclose(dd.identifiable_combinations(scaled), dd.identifiable_combinations(THETA))
    jac = robot.one_step_jacobians(states, controls, THETA)
    direction = np.r_[THETA[:6], 0.0]  # d/d log-scale: zero up to the differences' O(step^2) error
    assert np.abs(jac @ direction).max() < 1e-3 * np.abs(jac * direction).sum(-1).max()
    f = oed.fisher_information(jac, robot.noise_sd)
    assert np.linalg.matrix_rank(f, tol=1e-8 * np.linalg.eigvalsh(f).max()) == 6


def test_jacobian_matches_the_analytic_derivatives():
    robot = dd.Robot()
    state, u = np.array([0.0, 0.0, 0.3, 0.7, -0.2]), np.array([0.4, -0.6])
    jac = robot.one_step_jacobians(state, u, THETA)
    gl, gr, dv, dw, m, inertia, _ = THETA
    force = gl * u[0] + gr * u[1]
    assert jac[3, 0] == pytest.approx(robot.dt * u[0] / m, rel=1e-6)  # dv'/dgain_left
    assert jac[3, 4] == pytest.approx(-robot.dt * (force - dv * 0.7) / m**2, rel=1e-3)  # dv'/dmass
    assert jac[4, 3] == pytest.approx(robot.dt * 0.2 / inertia, rel=1e-6)  # d(w' + b)/ddrag_w
    assert jac[4, 6] == pytest.approx(1.0) and np.allclose(jac[:4, 6], 0.0)  # the bias shifts the gyro only


def test_map_estimate_recovers_the_identifiable_combinations():
    robot = dd.Robot()
    rng = np.random.default_rng(1)
    controls = rng.uniform(-1, 1, (300, 2))
    states = robot.rollout(np.zeros(5), controls, THETA)
    obs = robot.predict(states, controls, THETA) + robot.noise_sd * rng.standard_normal((300, 5))
    exp = Experiment()
    mean, sd, lower = map(np.array, (exp.prior_mean, exp.prior_sd, exp.lower))
    est = dd.map_estimate(robot, states, controls, obs, mean, sd, lower, start=mean)
    from_truth = dd.map_estimate(robot, states, controls, obs, mean, sd, lower, start=THETA)
    np.testing.assert_allclose(
        est, from_truth, rtol=1e-4
    )  # the same optimum from the prior and from the truth
    cov = dd.laplace_covariance(robot, states, controls, est, sd)
    assert np.all(np.linalg.eigvalsh(cov) > 0) and np.all(np.diag(cov) <= sd**2 + 1e-12)
    # each combination within 3 posterior sds (delta method), and the data beat the prior on average
    steps = np.eye(7) * 1e-6
    grad = np.array(
        [
            (dd.identifiable_combinations(est + e) - dd.identifiable_combinations(est - e)) / 2e-6
            for e in steps
        ]
    )
    post_sd = np.sqrt(np.diag(grad.T @ cov @ grad))
    diff = np.abs(dd.identifiable_combinations(est) - dd.identifiable_combinations(THETA))
    assert np.all(diff < 3 * post_sd)
    assert exp.identifiable_error(est, THETA).mean() < 0.5 * exp.identifiable_error(mean, THETA).mean()


# --- the experiment --------------------------------------------------------------------------------------------

TINY = {"steps": 26, "candidates": 32, "update_every": 3, "eval_trajectories": 3, "eval_steps": 10}


def test_methods_of_a_seed_share_the_robot_and_a_run_is_deterministic(tmp_path):
    runs = {m: Experiment(method=m, **TINY).run(seed=3, out_dir=tmp_path) for m in METHODS}
    assert len({tuple(r["truth"]) for r in runs.values()}) == 1
    again = Experiment(method="qoed", **TINY).run(seed=3, out_dir=tmp_path)
    assert again == runs["qoed"]
    for r in runs.values():
        assert r["identifiable_error"] < r["error_curve"][0][1]  # the data taught something
        assert r["max_physical_selected"] <= 5


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"method": "aoed"}, "experiment.method"),
        ({"prior_sd": [1.0] * 6}, "experiment.prior_sd"),
        ({"duplicate_cos": 1.5}, "experiment.duplicate_cos"),
        ({"steps": 0}, "experiment.steps"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


# --- rules -------------------------------------------------------------------------------------------------------


def _rows(errors: dict[str, list[float]]) -> list[dict]:
    return [
        {"method": m, "seed": s, "identifiable_error": e, "max_physical_selected": 3, "mean_selected": 2.0}
        for m, es in errors.items()
        for s, e in enumerate(es)
    ]


CLAIM = {
    "derive": {"rule": "qoed_paired_gain", "better": "qoed", "other": "boed", "metric": "identifiable_error"}
}


def test_paired_gain_rule_needs_the_interval_above_zero():
    rule = RULES["qoed_paired_gain"]
    clear = _rows({"qoed": [0.5, 0.6, 0.4], "boed": [1.0, 1.0, 1.0]})
    assert paired_gains(clear, "qoed", "boed", "identifiable_error") == pytest.approx([0.5, 0.4, 0.6])
    assert rule(CLAIM, clear).verdict == REPRODUCED
    noisy = _rows({"qoed": [0.5, 1.3, 0.9], "boed": [1.0, 1.0, 1.0]})
    assert rule(CLAIM, noisy).verdict == PARTLY
    assert rule(CLAIM, _rows({"qoed": [1.2, 1.1], "boed": [1.0, 1.0]})).verdict == NOT
    assert rule(CLAIM, _rows({"qoed": [0.5], "boed": [1.0]})).verdict == PARTLY  # one seed: at most partly
    assert rule(CLAIM, _rows({"qoed": [0.5]})).verdict == NOT_RUN


def test_selection_rule_and_report_pieces(tmp_path):
    claim = {"derive": {"rule": "qoed_selection_bounded", "max_physical": 5}}
    rows = _rows({"qoed": [0.5, 0.6]})
    assert RULES["qoed_selection_bounded"](claim, rows).verdict == REPRODUCED
    rows[0]["max_physical_selected"] = 6
    assert RULES["qoed_selection_bounded"](claim, rows).verdict == NOT
    assert RULES["qoed_selection_bounded"](claim, []).verdict == NOT_RUN
    runs = [
        {**Experiment(method=m, **TINY).run(seed=s, out_dir=tmp_path), "seed": s}
        for m in ("boed", "qoed")
        for s in (0, 1)
    ]
    assert [p.name for p in figures(runs, tmp_path)] == ["qoed_error_curves.png"]
    table = tables(runs)
    assert "| BOED tr(F) | 2 |" in table and "| QOED (Schur) |" in table and "gyro_bias" in table
