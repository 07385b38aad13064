"""Blind gain calibration (Cambareri & Jacques, arXiv 1610.09028): maths and glue.

Known answers: exact recovery at large p (PGD, ALS, linear LS, PGD with priors), zero objective and
gradient at the truth, the counting bound below which recovery is impossible. Properties: the gain
projection keeps 1^T gamma = m and is the exact Euclidean projection (checked against scipy),
gradients equal torch autograd and finite differences, the initialisation is unbiased. Glue: results
identical for any n_jobs, validation, rules on synthetic rows.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.linalg import null_space
from scipy.optimize import minimize

from subspacelab.numerics import blind_calibration as bc
from subspacelab.papers.blind_calibration import experiment as glue
from subspacelab.papers.blind_calibration.claims import RULES
from subspacelab.papers.blind_calibration.figures import figures, tables
from subspacelab.reporting.stats import loglog_slope
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED


def problem(seed: int, T: int, p: int, m: int, n: int, rho: float = 0.5):
    rng = np.random.default_rng(seed)
    A = bc.sensing_matrices(rng, T, p, m, n)
    x = rng.standard_normal((T, n))
    d = bc.random_gains(rng, T, m, rho)
    return A, x, d, bc.measure(A, x, d)


# ---------------------------------------------------------------------------------------------
# Model, objective, gradients
# ---------------------------------------------------------------------------------------------


def test_measure_matches_explicit_loop():
    A, x, d, y = problem(0, 2, 3, 5, 4)
    for t in range(2):
        for ell in range(3):
            np.testing.assert_allclose(y[t, ell], np.diag(d[t]) @ A[t, ell] @ x[t], rtol=1e-12)


def test_objective_and_gradient_vanish_at_truth_only():
    A, x, d, y = problem(1, 3, 4, 6, 5)
    assert np.all(bc.objective(A, y, x, d) < 1e-28)
    gx, gg = bc.gradients(A, y, x, d)
    assert np.abs(gx).max() < 1e-13 and np.abs(gg).max() < 1e-13
    assert np.all(bc.objective(A, y, 1.1 * x, d) > 1e-4)


def test_objective_invariant_under_the_scale_ambiguity():
    """diag(c gamma) A (xi / c) = diag(gamma) A xi: the reason the paper fixes 1^T gamma = m."""
    A, x, d, y = problem(2, 2, 3, 6, 5)
    xi, gamma = x + 0.1, d + 0.05
    np.testing.assert_allclose(
        bc.objective(A, y, xi / 3.0, 3.0 * gamma), bc.objective(A, y, xi, gamma), rtol=1e-12
    )


def test_gradients_match_torch_autograd():
    A, x, d, y = problem(3, 2, 3, 7, 5)
    rng = np.random.default_rng(4)
    xi, gamma = x + 0.3 * rng.standard_normal(x.shape), d + 0.2 * rng.standard_normal(d.shape)
    gx, gg = bc.gradients(A, y, xi, gamma)
    At, yt = torch.tensor(A), torch.tensor(y)
    xt = torch.tensor(xi, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    _, p, m, _ = A.shape
    r = gt[:, None, :] * torch.einsum("tlmn,tn->tlm", At, xt) - yt
    f = 0.5 * (r**2).sum(dim=(1, 2)) / (m * p)
    f.sum().backward()
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gg, gt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bc.objective(A, y, xi, gamma), f.detach().numpy(), rtol=1e-12)


def test_gradients_match_central_finite_differences():
    A, x, d, y = problem(5, 1, 2, 5, 4)
    rng = np.random.default_rng(6)
    xi, gamma = x + 0.5 * rng.standard_normal(x.shape), d + 0.3 * rng.standard_normal(d.shape)
    gx, gg = bc.gradients(A, y, xi, gamma)
    h = 1e-6
    for _ in range(5):
        u, v = rng.standard_normal(xi.shape), rng.standard_normal(gamma.shape)
        fd_x = (bc.objective(A, y, xi + h * u, gamma) - bc.objective(A, y, xi - h * u, gamma)) / (2 * h)
        fd_g = (bc.objective(A, y, xi, gamma + h * v) - bc.objective(A, y, xi, gamma - h * v)) / (2 * h)
        np.testing.assert_allclose(fd_x, np.sum(gx * u, axis=1), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(fd_g, np.sum(gg * v, axis=1), rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# Projections
# ---------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    g=arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 12)), elements=st.floats(-3, 5)),
    rho=st.floats(0.05, 0.95),
)
def test_gain_projection_lands_in_the_set_and_is_idempotent(g, rho):
    P = bc.project_gains(g, rho)
    m = g.shape[-1]
    np.testing.assert_allclose(P.sum(axis=-1), m, atol=1e-9 * m)
    assert P.min() >= 1 - rho - 1e-12 and P.max() <= 1 + rho + 1e-12
    np.testing.assert_allclose(bc.project_gains(P, rho), P, atol=1e-10)
    # Hyperplane-only projection keeps the sum at m too.
    np.testing.assert_allclose(bc.project_gains(g, None).sum(axis=-1), m, atol=1e-9 * m)


def test_gain_projection_equals_scipy_constrained_least_squares():
    """Reference: scipy SLSQP on min ||v - g||^2 s.t. 1^T v = m, 1-rho <= v <= 1+rho."""
    rng = np.random.default_rng(7)
    g = 1 + rng.normal(0, 0.7, (6, 9))
    rho = 0.4
    P = bc.project_gains(g, rho)
    for i in range(len(g)):
        res = minimize(
            lambda v, gi=g[i]: 0.5 * np.sum((v - gi) ** 2),
            np.ones(9),
            jac=lambda v, gi=g[i]: v - gi,
            bounds=[(1 - rho, 1 + rho)] * 9,
            constraints=[{"type": "eq", "fun": lambda v: v.sum() - 9}],
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 500},
        )
        np.testing.assert_allclose(P[i], res.x, atol=1e-8)


def test_gain_gradient_projectors_keep_the_sum():
    rng = np.random.default_rng(8)
    g = rng.standard_normal((3, 10))
    np.testing.assert_allclose(bc.project_mean_zero(g).sum(axis=1), 0, atol=1e-12)
    B = bc.gain_basis(rng, 3, 10, 4)
    np.testing.assert_allclose(np.ones(10) @ B, 0, atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(B, 1, 2) @ B, np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-12)
    np.testing.assert_allclose(bc.project_on_basis(B, g).sum(axis=1), 0, atol=1e-12)


def test_pgd_iterates_keep_mean_gain_one_and_stay_in_the_box():
    A, _, _, y = problem(9, 3, 2, 10, 8)
    for rho in (None, 0.3):
        sol = bc.pgd(A, y, max_iters=37, rho=rho)
        np.testing.assert_allclose(sol.gamma.sum(axis=1), 10, atol=1e-9)
        if rho is not None:
            assert np.all(np.abs(sol.gamma - 1) <= rho + 1e-12)


# ---------------------------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------------------------


def test_initialisation_is_unbiased():
    """E[xi_0] = (1/m) sum_i d_i x = x when 1^T d = m (fixed x, d; many draws of the A_l)."""
    rng = np.random.default_rng(10)
    n, m, p, N = 6, 8, 2, 4000
    x = rng.standard_normal(n)
    d = bc.random_gains(rng, 1, m, 0.8)[0]
    A = bc.sensing_matrices(rng, N, p, m, n)
    xi0, gamma0 = bc.initialise(A, bc.measure(A, np.tile(x, (N, 1)), np.tile(d, (N, 1))))
    assert np.all(gamma0 == 1)
    se = xi0.std(axis=0) / math.sqrt(N)
    assert np.all(np.abs(xi0.mean(axis=0) - x) < 4.5 * se)
    # Can fail: gains whose mean is 1.5 bias the initialisation by that factor.
    xi_b, _ = bc.initialise(A, bc.measure(A, np.tile(x, (N, 1)), np.tile(1.5 * d, (N, 1))))
    assert np.linalg.norm(xi_b.mean(axis=0) - x) > 10 * np.linalg.norm(se)
    np.testing.assert_allclose(xi_b.mean(axis=0), 1.5 * x, atol=4.5 * 1.5 * se.max())


# ---------------------------------------------------------------------------------------------
# Recovery (known answers)
# ---------------------------------------------------------------------------------------------


def test_pgd_exact_recovery_noise_free_large_p():
    """Issue's required test: mp = 4 (n + m), noise-free: relative error ~1e-8 or better."""
    A, x, d, y = problem(11, 4, 8, 16, 16)
    sol = bc.pgd(A, y, mu=0.3, max_iters=5000, tol=1e-13, rho=0.5)
    ex, eg = bc.relative_errors(sol.xi, sol.gamma, x, d)
    assert sol.converged.all() and not sol.diverged.any()
    assert ex.max() < 1e-8 and eg.max() < 1e-8


def test_pgd_cannot_recover_below_the_counting_bound():
    """mp < n + m - 1: infinitely many (xi, gamma) fit the data, so the truth is not recovered."""
    A, x, d, y = problem(12, 4, 1, 12, 16)  # mp = 12 < 27
    sol = bc.pgd(A, y, max_iters=3000)
    assert np.all(bc.joint_error(sol.xi, sol.gamma, x, d) > 1e-3)


def test_pgd_with_subspace_priors_recovers():
    rng = np.random.default_rng(13)
    T, n, m, h, k, p = 3, 40, 12, 5, 4, 3  # mp = 36 = 4 (h + k) < n + m
    A = bc.sensing_matrices(rng, T, p, m, n)
    Z, B = bc.orthonormal_basis(rng, T, n, h), bc.gain_basis(rng, T, m, k)
    z = rng.standard_normal((T, h))
    x = (Z @ z[..., None])[..., 0]
    bb = (B @ rng.standard_normal((T, k, 1)))[..., 0]
    d = 1 + 0.4 * bb / np.abs(bb).max(axis=1, keepdims=True)
    y = bc.measure(A, x, d)
    sol = bc.pgd(A @ Z[:, None], y, B=B, max_iters=5000, tol=1e-13)
    xi = (Z @ sol.xi[..., None])[..., 0]
    assert bc.joint_error(xi, sol.gamma, x, d).max() < 1e-8
    with pytest.raises(ValueError, match="rho"):
        bc.pgd(A @ Z[:, None], y, B=B, rho=0.5)


def test_als_baseline_recovers_at_large_p():
    A, x, d, y = problem(14, 3, 8, 12, 10)
    sol = bc.als(A, y, max_iters=300, tol=1e-13)
    assert sol.converged.all()
    assert bc.joint_error(sol.xi, sol.gamma, x, d).max() < 1e-8


def test_als_xi_step_is_the_least_squares_solution():
    """Reference: numpy lstsq on the stacked system diag(gamma) A_l xi = y_l with gamma = 1."""
    A, x, d, y = problem(15, 1, 3, 6, 4)
    sol = bc.als(A, y, max_iters=1)
    ref = np.linalg.lstsq(A[0].reshape(-1, 4), y[0].reshape(-1), rcond=None)[0]
    # After one sweep xi is the gamma = 1 solution, gamma then re-fit: compare the xi-step directly.
    np.testing.assert_allclose(sol.xi[0], ref, rtol=1e-10)


def test_linear_least_squares_baseline_is_exact_at_the_counting_bound():
    """Ling-Strohmer: exact once mp >= n + m - 1 (noise-free); reference null space from scipy."""
    n, m, p = 6, 7, 2  # mp = 14 >= 12
    A, x, d, y = problem(16, 3, p, m, n)
    sol = bc.linear_ls(A, y)
    assert bc.joint_error(sol.xi, sol.gamma, x, d).max() < 1e-8
    M = np.hstack([-A[0].reshape(-1, n), np.vstack([np.diag(y[0, ell]) for ell in range(p)])])
    ns = null_space(M)
    assert ns.shape[1] == 1
    w = ns[:, 0] / ns[n:, 0].mean()  # any scaling; compare directions
    v = np.concatenate([sol.xi[0], 1 / sol.gamma[0]])
    np.testing.assert_allclose(w / np.linalg.norm(w), v / np.linalg.norm(v) * np.sign(v @ w), atol=1e-8)


def test_noise_error_scales_linearly():
    A, x, d, y = problem(17, 6, 8, 12, 12)
    rng = np.random.default_rng(18)
    noise = rng.standard_normal(y.shape)
    rms = np.sqrt(np.mean(y**2, axis=(1, 2), keepdims=True))
    errs = []
    for level in (1e-4, 1e-2):
        sol = bc.pgd(A, y + level * rms * noise, max_iters=4000, rho=0.5)
        # The stopping rule measures the projected move, so it also stops at a box-constrained fixed point.
        assert sol.converged.all()
        errs.append(np.median(bc.joint_error(sol.xi, sol.gamma, x, d)))
    assert 50 < errs[1] / errs[0] < 200  # 100x noise -> ~100x error


# ---------------------------------------------------------------------------------------------
# Glue: Experiment, rules
# ---------------------------------------------------------------------------------------------


def test_experiment_validation():
    with pytest.raises(ValueError, match="variant"):
        glue.Experiment(variant="lifted")
    with pytest.raises(ValueError, match="rho"):
        glue.Experiment(rho=1.2)
    with pytest.raises(ValueError, match="^h"):
        glue.Experiment(variant="priors", h=0, k=2)
    with pytest.raises(ValueError, match="^k"):
        glue.Experiment(variant="priors", m=8, h=2, k=8)
    with pytest.raises(ValueError, match="trials"):
        glue.Experiment(trials=0)
    assert glue.Experiment(variant="priors", h=3, k=2, baselines=True).methods == ["pgd", "als"]
    assert glue.Experiment(n=128, m=32, ratio_min=0.5, ratio_max=3.0).p_sweep() == list(range(2, 16))


def test_run_is_identical_for_any_n_jobs(tmp_path):
    exp = glue.Experiment(
        n=6, m=6, trials=2, max_iters=300, als_max_iters=50, baselines=True, p_values=[2, 4]
    )
    a = exp.run(0, tmp_path / "a", n_jobs=1)
    b = exp.run(0, tmp_path / "b", n_jobs=2)
    assert a == b
    json.dumps(a, allow_nan=False)
    assert (tmp_path / "a" / "trials.csv").read_text() == (tmp_path / "b" / "trials.csv").read_text()
    assert {q["method"] for q in a["points"]} == {"pgd", "als", "linear_ls"}
    c = exp.run(1, tmp_path / "c")
    assert c["points"] != a["points"]


def test_crossing_and_slope_known_answers():
    assert glue.crossing([1, 2, 3, 4], [0.0, 0.2, 0.8, 1.0]) == pytest.approx(2.5)
    assert glue.crossing([1, 2], [0.0, 0.4]) is None
    assert glue.summary_slope([1e-3, 1e-2, 1e-1], [2e-3, 2e-2, 2e-1]) == pytest.approx(1.0)
    assert glue.summary_slope([1e-3, 1e-2], [None, 1.0]) is None
    # the run summary's slope (log10, polyfit) is the one the rule refits with its interval
    xs, ys = [1e-4, 1e-3, 1e-2, 1e-1], [3e-4, 2.5e-3, 3.1e-2, 0.29]
    assert glue.summary_slope(xs, ys) == pytest.approx(loglog_slope(xs, ys).slope, rel=1e-12)


def _row(n, m, p50, variant="plain", h=0, k=0, rho=0.5):
    """A synthetic run whose success rate steps from 0 to 1 between p50 - 0.5 and p50 + 0.5."""
    unknowns = h + k if variant == "priors" else n + m
    pts = [
        {
            "method": "pgd",
            "n": n,
            "m": m,
            "h": h,
            "k": k,
            "p": p,
            "ratio": m * p / unknowns,
            "trials": 10,
            "successes": 0 if p < p50 else 10,
            "q90_err": 1e-10 if p >= p50 else 1.0,
        }
        for p in range(1, 20)
    ]
    return {
        "experiment": {"variant": variant, "n": n, "m": m, "h": h, "k": k, "rho": rho},
        "seed": 0,
        "unknowns": unknowns,
        "rho": rho,
        "points": pts,
    }


def test_collapse_rule_tells_collapse_from_no_collapse():
    claim = {
        "derive": {"rule": "bc_collapse", "variant": "plain", "select": {"rho": 0.5}},
        "tolerance": {"reproduced_cv": 0.25, "max_cv_fraction": 0.5},
    }
    sizes = [(32, 32), (128, 32), (32, 128), (64, 64)]
    # Transition at mp = 1.5 (n + m): p50 = 1.5 (n + m) / m, rounded up to the integer grid.
    collapsing = [_row(n, m, math.ceil(1.5 * (n + m) / m)) for n, m in sizes]
    measured, verdict, _ = RULES["bc_collapse"](claim, collapsing)
    assert verdict == REPRODUCED, measured
    # Transition at a fixed p regardless of size: no collapse in mp/(n+m) units.
    fixed_p = [_row(n, m, 4) for n, m in sizes]
    assert RULES["bc_collapse"](claim, fixed_p)[1] == NOT
    # Rows with another rho are ignored by the select.
    assert RULES["bc_collapse"](claim, collapsing + [_row(64, 64, 19, rho=0.9)])[1] == REPRODUCED


def test_exact_recovery_and_same_constant_rules():
    rows = [
        _row(64, 64, 3),
        _row(128, 32, 8),
        _row(256, 24, 3, "priors", 16, 8),
        _row(256, 24, 5, "priors", 32, 16),
    ]
    er = {
        "derive": {"rule": "bc_exact_recovery", "variants": ["plain", "priors"], "ratio_min": 3.0},
        "tolerance": {"reproduced": 0.99, "partly": 0.9},
    }
    assert RULES["bc_exact_recovery"](er, rows)[1] == REPRODUCED
    sc = {"derive": {"rule": "bc_same_constant"}, "tolerance": {"reproduced": 1.5, "partly": 2.0}}
    measured, verdict, _ = RULES["bc_same_constant"](sc, rows)
    # 50% points (linear in p between the 0 and 1 steps): plain 1.25, 1.5 (median 1.375); priors 2.5, 2.25
    assert measured["factor"] == pytest.approx(2.375 / 1.375) and verdict == PARTLY
    assert (
        RULES["bc_same_constant"](sc, rows[:1] + [_row(256, 24, 4, "priors", 16, 8)]).verdict == NOT
    )  # 3.5 / 1.25
    assert RULES["bc_same_constant"](sc, rows[:2] + [_row(256, 24, 2, "priors", 16, 8)]).verdict == REPRODUCED


def _noise_row(p_noise, slope, scatter=0.0):
    levels = [1e-4, 1e-3, 1e-2, 1e-1]
    pts = [
        {"method": "pgd", "noise": lv, "median_err": 0.5 * lv**slope * (1 + scatter * (-1) ** i)}
        for i, lv in enumerate(levels)
    ]
    return {"experiment": {"variant": "noise", "p_noise": p_noise}, "points": pts, "pgd_noise_slope": slope}


def test_noise_rule_judges_the_slope_interval():
    ns = {
        "derive": {"rule": "bc_noise_slope", "select": {"p_noise": 8}},
        "tolerance": {"reproduced": 0.2, "partly": 0.5},
    }
    m, v, _ = RULES["bc_noise_slope"](
        ns, [_noise_row(8, 1.05), _noise_row(4, 3.0)]
    )  # p_noise 4 is not selected
    assert v == REPRODUCED and m["slope"] == pytest.approx(1.05) and "n=4 points" in m["value"]
    # slope 1.1 but scattered: the interval reaches past 1.2, so only partly
    assert RULES["bc_noise_slope"](ns, [_noise_row(8, 1.1, scatter=0.8)]).verdict == PARTLY
    assert RULES["bc_noise_slope"](ns, [_noise_row(8, 0.4)]).verdict == NOT
    assert RULES["bc_noise_slope"](ns, [_noise_row(4, 1.0)]).verdict == NOT_RUN


def test_plots_write_pngs(tmp_path):
    rows = [_row(64, 64, 3), _row(128, 32, 8), _row(256, 24, 3, "priors", 16, 8)]
    paths = figures(rows, tmp_path)
    assert [p.name for p in paths] == ["phase_transition_plain.png", "phase_transition_priors.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert tables(rows) == ""  # no baselines ran


def test_experiment_yaml_instantiates_with_every_field():
    import dataclasses
    from pathlib import Path

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    root = Path(__file__).resolve().parents[2]
    cfg = OmegaConf.load(root / "conf/experiment/blind_calibration.yaml")
    assert OmegaConf.to_container(cfg, resolve=True)["tag"] == "plain-n64-m64-h0-k0-rho0.5-pn8"
    del cfg["tag"]
    exp = instantiate(cfg)
    assert isinstance(exp, glue.Experiment)
    fields = {f.name for f in dataclasses.fields(glue.Experiment)}
    assert fields == set(cfg) - {"_target_"}
    assert exp == glue.Experiment()  # the yaml's defaults are the dataclass defaults
