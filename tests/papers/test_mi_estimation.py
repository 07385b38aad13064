"""The MI-estimation protocol (src/subspacelab/analysis/mi_protocol.py) and the paper's package
(src/subspacelab/papers/mi_estimation/): known-answer tests of the generator, the extrapolation, the
consistency checks and the intervals, plus reference checks against scipy (and statsmodels when installed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from subspacelab.analysis import mi_protocol as P
from subspacelab.analysis.information import gaussian_mi, ksg_mi
from subspacelab.lit.critics import train_max_test
from subspacelab.papers.mi_estimation import claims as C
from subspacelab.papers.mi_estimation import experiment as G
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

GAMMAS = [1, 2, 3, 4, 5, 6]


def chunked(gammas):
    """One row per chunk: gamma g contributes g rows (as the protocol does)."""
    return np.array([g for g in gammas for _ in range(g)], dtype=float)


# --------------------------------------------------------------------------------------------
# Generator: known MI
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.floats(0.05, 8.0), st.integers(1, 12))
def test_latent_rho_inverts_the_closed_form(mi, kz):
    rho = P.latent_rho(mi, kz)
    assert 0 < rho < 1
    assert P.latent_mi(rho, kz) == pytest.approx(mi, rel=1e-10)
    # the population covariance of (Z_x, Z_y) has exactly this MI (toolkit closed form)
    cov = np.block([[np.eye(kz), rho * np.eye(kz)], [rho * np.eye(kz), np.eye(kz)]])
    assert gaussian_mi(cov, kz) == pytest.approx(mi, rel=1e-8)


def test_correlated_latents_have_the_requested_correlation():
    zx, zy = P.correlated_latents(200_000, 3, 0.6, np.random.default_rng(0))
    c = np.corrcoef(zx.T, zy.T)
    assert np.allclose(np.diag(c[:3, 3:]), 0.6, atol=0.01)
    assert np.allclose(c[:3, :3], np.eye(3), atol=0.01)
    assert abs(c[0, 4]) < 0.01  # different pairs are independent


@pytest.mark.parametrize("activation", ["tanh", "linear"])
def test_embedding_is_injective_so_the_dataset_keeps_the_latent_mi(activation):
    mi = 1.5
    x, y, lat = P.latent_mi_dataset(3000, 2, 500, mi, seed=3, activation=activation, return_latents=True)
    assert x.shape == (3000, 500) and y.shape == (3000, 500) and x.dtype == np.float32
    # the latents come back exactly from the 500-d data: X and Y are invertible functions of Z_x, Z_y,
    # hence I(X; Y) = I(Z_x; Z_y) = mi (MI is invariant under injective maps)
    zx = P.invert_embedding(lat["ex"], x.astype(np.float64))
    zy = P.invert_embedding(lat["ey"], y.astype(np.float64))
    assert np.max(np.abs(zx - lat["zx"])) < 1e-2 and np.max(np.abs(zy - lat["zy"])) < 1e-2  # float32 storage
    exact = P.invert_embedding(lat["ex"], P.apply_embedding(lat["ex"], lat["zx"]))
    assert np.max(np.abs(exact - lat["zx"])) < 1e-8
    # ... and that latent pair carries the closed-form MI (Gaussian plug-in and KSG reference estimates)
    emp = gaussian_mi(np.cov(np.hstack([zx, zy]).T), 2)
    assert emp == pytest.approx(mi, abs=0.05)
    assert ksg_mi(zx, zy, 3) == pytest.approx(mi, abs=0.12)


def test_embedding_rejects_non_injective_shapes_and_relu_inversion():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="injective"):
        P.random_embedding(8, 500, 4, rng)  # hidden < K_Z
    with pytest.raises(ValueError, match="injective"):
        P.random_embedding(2, 10, 64, rng)  # K < hidden
    emb = P.random_embedding(2, 50, 16, rng, "relu")
    with pytest.raises(ValueError, match="ReLU"):
        P.invert_embedding(emb, P.apply_embedding(emb, rng.standard_normal((5, 2))))


def test_dataset_is_seeded():
    a = P.latent_mi_dataset(50, 2, 30, 1.0, seed=7, hidden=16)
    b = P.latent_mi_dataset(50, 2, 30, 1.0, seed=7, hidden=16)
    c = P.latent_mi_dataset(50, 2, 30, 1.0, seed=8, hidden=16)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and not np.array_equal(a[0], c[0])


# --------------------------------------------------------------------------------------------
# WLS, extrapolation, linear region
# --------------------------------------------------------------------------------------------


def test_gamma_chunks_partition_one_permutation_and_weights_balance_levels():
    ch = P.gamma_chunks(103, GAMMAS, np.random.default_rng(0))
    for g, parts in ch.items():
        assert len(parts) == g
        assert sorted(np.concatenate(parts).tolist()) == list(range(103))
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1
    # hierarchical: the gamma = 2 chunks are the halves of the gamma = 1 ordering
    assert np.array_equal(np.concatenate(ch[2]), ch[1][0])
    g = chunked(GAMMAS)
    w = P.gamma_weights(g)
    for level in GAMMAS:
        assert w[g == level].sum() == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(
    st.floats(0.0, 8.0),
    st.floats(-50.0, 50.0),
    st.sampled_from([256, 1000, 4096]),
    st.lists(st.integers(1, 12), min_size=4, max_size=8, unique=True),
)
def test_extrapolation_recovers_the_intercept_of_an_exact_a_plus_b_over_n_curve(a, b, n, gammas):
    gammas = sorted(gammas)
    g = chunked(gammas)
    values = a + b * g / n  # MI(N/gamma) = I + b / (N/gamma), no noise
    ex = P.extrapolate(g, values, min_points=min(4, len(gammas)))
    assert ex.converged and ex.gammas_used == gammas  # nothing to drop: exactly linear
    assert ex.estimate == pytest.approx(a, abs=1e-9)
    assert ex.slope * n == pytest.approx(b, abs=1e-6)
    assert ex.ci_high - ex.ci_low < 1e-6  # zero residuals -> a zero-width interval
    assert P.consistency_flags(ex)["reliable"] == (len(gammas) >= 4)


def test_linear_region_drops_the_curved_large_gamma_tail():
    gammas = list(range(1, 11))
    g = chunked(gammas)
    values = 2.0 + 0.05 * g + np.where(g > 5, 0.2 * (g - 5) ** 2, 0.0)  # linear up to gamma = 5, then bends
    for criterion in ("ratio", "t"):
        kept, converged, info = P.linear_region(g, values, criterion=criterion, min_points=5)
        assert kept == [1, 2, 3, 4, 5] and converged, (criterion, kept, info)
    ex = P.extrapolate(g, values, min_points=5)
    assert ex.estimate == pytest.approx(2.0, abs=1e-9) and P.consistency_flags(ex)["reliable"]


def test_consistency_check_flags_inconsistent_sequences():
    g = chunked(GAMMAS)
    rng = np.random.default_rng(0)
    noise = 0.01 * rng.standard_normal(g.size) * np.sqrt(g)
    good = 3.0 + 0.02 * g + noise
    curved = 3.0 + 0.3 * g**2 + noise  # curvature everywhere: no linear region of >= 5 gammas
    saturating = 3.0 * (1 - np.exp(-g)) + noise  # bends the other way
    outlier = good + np.where(g == 1, 1.5, 0.0)  # gamma = 1 disagrees with the rest
    ok = P.consistency_flags(P.extrapolate(g, good, criterion="t"))
    assert ok["reliable"], ok
    for bad in (curved, saturating):
        for criterion in ("ratio", "t"):
            ex = P.extrapolate(g, bad, criterion=criterion)
            fl = P.consistency_flags(ex)
            assert not ex.converged and not fl["linear"] and not fl["reliable"], (criterion, ex)
            assert len(ex.gammas_used) == 5  # never below the floor
    ex = P.extrapolate(
        g, outlier, criterion="t", t_threshold=1e9
    )  # linearity accepted: only leverage can catch it
    fl = P.consistency_flags(ex)
    assert ex.loo_shift > 0.2 and not fl["leverage_ok"] and not fl["reliable"]
    sat = P.consistency_flags(P.extrapolate(g, good, criterion="t"), saturation={1: 0.5, 2: 0.9})
    assert sat["saturated_gammas"] == [2] and sat["reliable"] and not sat["reliable_strict"]


def test_wls_matches_scipy_linregress_for_equal_weights():
    rng = np.random.default_rng(1)
    x = np.arange(1.0, 9.0)
    y = 1.3 - 0.4 * x + 0.2 * rng.standard_normal(x.size)
    fit = P.wls_fit(np.vstack([np.ones_like(x), x]).T, y, np.ones_like(x))
    ref = stats.linregress(x, y)
    assert fit.params[0] == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.params[1] == pytest.approx(ref.slope, rel=1e-12)
    assert math.sqrt(fit.cov[0, 0]) == pytest.approx(ref.intercept_stderr, rel=1e-10)
    lo, hi = P.interval_at(fit, [1.0, 0.0], 0.95)
    t = stats.t.ppf(0.975, x.size - 2)
    assert (hi - lo) / 2 == pytest.approx(t * ref.intercept_stderr, rel=1e-10)
    # scaling every weight by a constant changes nothing
    fit2 = P.wls_fit(np.vstack([np.ones_like(x), x]).T, y, 7.0 * np.ones_like(x))
    assert np.allclose(fit2.params, fit.params) and np.allclose(fit2.cov, fit.cov)


def test_wls_matches_statsmodels_with_weights():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(2)
    g = chunked(GAMMAS)
    y = 2.0 + 0.1 * g + 0.05 * np.sqrt(g) * rng.standard_normal(g.size)
    w = P.gamma_weights(g)
    x = np.vstack([np.ones_like(g), g]).T
    ours = P.wls_fit(x, y, w)
    ref = sm.WLS(y, x, weights=w).fit()
    assert np.allclose(ours.params, ref.params) and np.allclose(ours.cov, ref.cov_params())
    pred = ref.get_prediction(np.array([[1.0, 0.0]]))
    for kind, obs in (("mean", False), ("prediction", True)):
        assert np.allclose(P.interval_at(ours, [1.0, 0.0], 0.68, kind), pred.conf_int(obs=obs, alpha=0.32)[0])


def test_intervals_have_nominal_coverage_on_a_toy_estimator():
    """Toy estimator with a known sampling distribution: a chunk of N/gamma samples returns
    I + b gamma / N + sigma sqrt(gamma) eps, eps ~ N(0, 1) -- the WLS model exactly. The t-intervals of the
    intercept must cover I at their nominal rate; the prediction interval must cover a new unit-weight draw."""
    rng = np.random.default_rng(0)
    g = chunked(GAMMAS)
    x = np.vstack([np.ones_like(g), g]).T
    w = P.gamma_weights(g)
    truth, b, n, sigma, reps = 2.0, 40.0, 1000, 0.1, 1500
    hits = {0.68: 0, 0.95: 0}
    pred_hits = 0
    for _ in range(reps):
        y = truth + b * g / n + sigma * np.sqrt(g) * rng.standard_normal(g.size)
        fit = P.wls_fit(x, y, w)
        for level in hits:
            lo, hi = P.interval_at(fit, [1.0, 0.0], level)
            hits[level] += lo <= truth <= hi
        lo, hi = P.interval_at(fit, [1.0, 0.0], 0.68, "prediction")
        pred_hits += lo <= truth + sigma * rng.standard_normal() <= hi
    for level, k in hits.items():
        se = math.sqrt(level * (1 - level) / reps)
        assert abs(k / reps - level) < 4 * se, (level, k / reps)
    assert abs(pred_hits / reps - 0.68) < 4 * math.sqrt(0.68 * 0.32 / reps)
    # the protocol wrapper builds the same interval when the whole range is linear
    y = truth + b * g / n + sigma * np.sqrt(g) * rng.standard_normal(g.size)
    ex = P.extrapolate(g, y, criterion="t", t_threshold=1e9, level=0.95)
    assert (ex.ci_low, ex.ci_high) == pytest.approx(P.interval_at(P.wls_fit(x, y, w), [1.0, 0.0], 0.95))


# --------------------------------------------------------------------------------------------
# Max-test training and critics
# --------------------------------------------------------------------------------------------


def test_smooth_history_removes_a_spike_and_fills_nans():
    h = [0.0, 0.1, 0.2, 3.0, 0.3, 0.35, float("nan"), 0.4]
    s = P.smooth_history(h, sigma=0.0, median_window=3)
    assert np.argmax(s) != 3 and np.all(np.isfinite(s))
    assert np.allclose(P.smooth_history([1.0] * 6), 1.0)
    assert P.smooth_history([]).size == 0


def test_max_test_training_recovers_a_low_dimensional_mi_and_is_seeded():
    rng = np.random.default_rng(0)
    rho = P.latent_rho(1.0, 2)
    zx, zy = P.correlated_latents(640, 2, rho, rng)
    r1 = train_max_test(zx, zy, epochs=10, hidden=32, embed_dim=16, seed=3, lr=3e-3)
    assert r1["n_test"] == 63 and r1["n_train"] == 577  # int(640 * (1 - 0.9)) = 63, as NeuralMI
    assert 0 <= r1["best_epoch"] < 10 and len(r1["history"]) == 10
    assert r1["train_mi"] == pytest.approx(1.0, abs=0.3) and r1["train_mi"] <= r1["ceiling"]
    state = torch.random.get_rng_state()
    kw = {"epochs": 2, "hidden": 8, "embed_dim": 4, "seed": 5}
    a, b = train_max_test(zx[:200], zy[:200], **kw), train_max_test(zx[:200], zy[:200], **kw)
    assert a == b  # seeded
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    v = train_max_test(zx, zy, "vsib", epochs=10, hidden=32, embed_dim=16, seed=1, lr=3e-3)
    assert 0.1 < v["train_mi"] < 1.3  # learns (more slowly: the sampled embeddings start with unit noise)


def test_vsib_critic_samples_in_training_and_uses_means_in_eval():
    torch.manual_seed(0)
    c = P.make_protocol_critic("vsib", 5, 4, hidden=8, embed_dim=3)
    x, y = torch.randn(6, 5), torch.randn(6, 4)
    c.train()
    s1, s2 = c(x, y), c(x, y)
    assert s1.shape == (6, 6) and not torch.equal(s1, s2) and float(c.kl.detach()) > 0
    c.eval()
    assert torch.equal(c(x, y), c(x, y)) and float(c.kl) == 0.0
    with pytest.raises(ValueError):
        P.make_protocol_critic("concat", 5, 4)


# --------------------------------------------------------------------------------------------
# Glue: validation, a tiny run, the rules
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"latent_dim": 0},
        {"mi_bits": -1.0},
        {"sizes": [32]},
        {"estimators": ["mine"]},
        {"gammas": [2, 3, 4]},
        {"min_gamma_points": 9},
        {"linearity": "quadratic"},
        {"confidence": 1.5},
        {"embedding_hidden": 1, "latent_dim": 2},
        {"sizes": [64], "gammas": [1, 2, 3, 4, 5, 6, 7, 8, 9]},
    ],
)
def test_experiment_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        G.Experiment(**bad)


TINY = {
    "latent_dim": 2,
    "mi_bits": 1.0,
    "ambient_dim": 24,
    "sizes": [64],
    "repeats": 2,
    "estimators": ["ksg", "infonce", "protocol"],
    "gammas": [1, 2, 3, 4],
    "min_gamma_points": 3,
    "epochs": 2,
    "embedding_hidden": 8,
    "critic_hidden": 8,
    "critic_embed_dim": 4,
}


def test_a_tiny_run_is_deterministic_and_serialisable(tmp_path):
    a = G.Experiment(**TINY).run(0, tmp_path / "a")
    b = G.Experiment(**TINY).run(0, tmp_path / "b")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (tmp_path / "a" / "trials.csv").is_file() and (tmp_path / "a" / "chunks.csv").is_file()
    rec = a["trial_records"][0]
    assert rec["protocol_ci_low"] <= rec["protocol"] <= rec["protocol_ci_high"]
    assert rec["protocol_ci95_low"] <= rec["protocol_ci_low"]
    assert {p["estimator"] for p in a["points"]} == {"ksg", "ksg_latent", "infonce", "protocol"}


def _rec(kz, bits, n, est, covered, reliable, **extra):
    return {
        "latent_dim": kz,
        "mi_bits": bits,
        "true_bits": bits,
        "n": n,
        "protocol": est,
        "protocol_covered": covered,
        "protocol_reliable": reliable,
        "protocol_covered95": covered,
        "protocol_covered_pi": covered,
        **extra,
    }


def test_rules_give_the_pre_registered_verdicts():
    low = [_rec(2, 2.0, 256, 2.0, i < 7, True, ksg=0.2, ksg_latent=1.9, infonce=3.5) for i in range(10)]
    high = [_rec(10, 2.0, 256, 3.0, False, i < 9, ksg=0.1, infonce=3.9) for i in range(10)]
    rows = [{"trial_records": low}, {"trial_records": high}]
    cov = {"derive": {"rule": "mie_coverage", "latent_dims": [2], "nominal": 0.68, "tolerance": 0.1}}
    assert C.RULES["mie_coverage"](cov, rows)[1] == REPRODUCED
    rows_bad = [{"trial_records": [dict(r, protocol_covered=False) for r in low]}]
    assert C.RULES["mie_coverage"](cov, rows_bad)[1] == NOT
    flags = {"derive": {"rule": "mie_flags_failure", "latent_dims": [10]}}
    m, verdict, _ = C.RULES["mie_flags_failure"](flags, rows)
    assert m["flag_rate_miss"] == pytest.approx(0.1) and verdict == NOT
    flagged = [{"trial_records": low}, {"trial_records": [dict(r, protocol_reliable=False) for r in high]}]
    assert C.RULES["mie_flags_failure"](flags, flagged)[1] == REPRODUCED
    ksg = {"derive": {"rule": "mie_ksg_collapse", "max_ratio": 0.5}}
    assert C.RULES["mie_ksg_collapse"](ksg, rows)[1] == REPRODUCED
    bias = {"derive": {"rule": "mie_infonce_bias", "min_rel_bias": 0.2}}
    assert C.RULES["mie_infonce_bias"](bias, rows)[1] == REPRODUCED
    beat = {"derive": {"rule": "mie_beats_baselines"}}
    assert C.RULES["mie_beats_baselines"](beat, rows)[1] == REPRODUCED
    close_ksg = [{"trial_records": low}, {"trial_records": [dict(r, ksg=1.8) for r in high]}]
    assert (
        C.RULES["mie_beats_baselines"](beat, close_ksg)[1] == PARTLY
    )  # KSG (error 0.2) beats it at K_Z = 10
    assert C.RULES["mie_ksg_collapse"](ksg, close_ksg)[1] == PARTLY
    assert C.RULES["mie_vsib"]({"derive": {}}, rows)[1] == NOT_RUN
    assert C.RULES["mie_coverage"](cov, [])[1] == NOT_RUN


def _vsib(seps, vsibs, truth=6.0, n=1024):
    """Records at 6 bits whose separable / VSIB estimates miss the truth by the given amounts (below it)."""
    return [
        {
            "trial_records": [
                {
                    "latent_dim": 2,
                    "mi_bits": truth,
                    "true_bits": truth,
                    "n": n,
                    "protocol": truth - s,
                    "protocol_vsib": truth - v,
                }
                for s, v in zip(seps, vsibs, strict=True)
            ]
        }
    ]


def test_vsib_rule_needs_the_paired_interval_to_exclude_zero():
    rule, claim = C.RULES["mie_vsib"], {"derive": {"min_bits": 5.0}}
    # differences (separable - VSIB |error|) 0.20, 0.10, 0.19, 0.17: mean 0.165, sd 0.0451, t(3) 3.182 -> [0.093, 0.237]
    measured, verdict, note = rule(claim, _vsib([0.35, 0.24, 0.36, 0.20], [0.15, 0.14, 0.17, 0.03]))
    assert verdict == REPRODUCED and note == "" and "n=4" in measured["value"]
    assert measured["interval_excludes_0"] == {"K_Z=2, I=6 b, N=1024": True}
    # VSIB better on the mean, but one data set is much worse: the interval includes 0 -> partly
    measured, verdict, note = rule(claim, _vsib([0.35, 0.24, 0.36, 0.20], [0.05, 0.04, 0.06, 0.60]))
    assert verdict == PARTLY and "interval includes 0" in note
    # one data set: no interval -> at most partly
    assert rule(claim, _vsib([0.35], [0.05]))[1] == PARTLY
    # VSIB worse -> not reproduced; only low-MI conditions -> not run
    assert rule(claim, _vsib([0.05, 0.06], [0.3, 0.31]))[1] == NOT
    assert rule(claim, _vsib([0.35, 0.24], [0.15, 0.14], truth=2.0))[1] == NOT_RUN


def test_beats_baselines_needs_the_paired_interval_within_the_slack():
    rule, claim = C.RULES["mie_beats_baselines"], {"derive": {"rel_slack": 0.1, "abs_slack": 0.05}}

    def rows(errs_protocol, errs_ksg):
        return [
            {
                "trial_records": [
                    {
                        "latent_dim": 2,
                        "mi_bits": 2.0,
                        "true_bits": 2.0,
                        "n": 256,
                        "protocol": 2.0 - p,
                        "ksg": 2.0 - k,
                    }
                    for p, k in zip(errs_protocol, errs_ksg, strict=True)
                ]
            }
        ]

    # protocol error 0.1 below KSG's in every data set: the interval is a point at -0.1 <= slack -> reproduced
    assert rule(claim, rows([0.2, 0.3, 0.4], [0.3, 0.4, 0.5]))[1] == REPRODUCED
    # the same mean difference (+0.04 <= slack 0.083) but noisy: upper end of the interval above the slack -> partly
    measured, verdict, note = rule(claim, rows([0.5, 0.1, 0.52], [0.3, 0.4, 0.3]))
    assert verdict == PARTLY and measured["ok"] == {"K_Z=2, I=2 b, N=256": True}
    assert measured["ok_interval"] == {"K_Z=2, I=2 b, N=256": False} and "not within the interval" in note
    # clearly worse than KSG -> not reproduced
    assert rule(claim, rows([0.9, 1.0, 1.1], [0.1, 0.1, 0.1]))[1] == NOT
