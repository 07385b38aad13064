"""Paper molrg_diffusion: config validation, the derive rules on synthetic rows with known answers, and an
in-process smoke run of the whole pipeline (train -> evaluate -> report)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from subspacelab.papers.molrg_diffusion import Experiment, figures
from subspacelab.papers.molrg_diffusion.claims import RULES
from subspacelab.papers.molrg_diffusion.experiment import CURVES
from subspacelab.reporting.claims import VERDICTS
from subspacelab.reporting.verdict import PARTLY

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ----------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        dict(K=0),
        dict(d=30),
        dict(models=["unet"]),
        dict(models=[]),
        dict(n_grid=[0]),
        dict(n_grid_rel=[]),
        dict(noise=-1.0),
        dict(success_threshold=1.5),
        dict(sampler="euler"),
        dict(sigma_min=100.0),
        dict(eval_sigmas=[0.0]),
        dict(lowrank_restarts=0),
        dict(mlp_lr=0.0),
    ],
)
def test_experiment_validates(bad):
    with pytest.raises(ValueError):
        Experiment(**bad)


def test_grid_rounds_half_up_and_deduplicates():
    assert Experiment(d=3).grid() == [2, 3, 4, 5, 6, 9]  # 1.5 -> 2, 3.75 -> 4, 4.5 -> 5
    assert Experiment(d=5).grid() == [3, 5, 6, 8, 10, 15]
    assert Experiment(d=1, n_grid_rel=[0.1, 0.5, 1.0]).grid() == [1]
    assert Experiment(d=4, n_grid=[8, 2, 8]).grid() == [2, 8]


# ----------------------------------------------------------------------------------------------
# derive rules on synthetic rows
# ----------------------------------------------------------------------------------------------
def _row(
    d,
    seed,
    succ,
    K=2,
    models=("lowrank", "ksubspaces"),
    grid_rel=(0.5, 1.0, 1.25, 1.5, 2.0, 3.0),
    scale="cpu",
    extra=None,
):
    """A run's metrics with success flags from succ(N, d) (for every model/metric) and optional extra fields."""
    pts = []
    for N in sorted({max(1, math.floor(r * d + 0.5)) for r in grid_rel}):
        p = {"N": N, "N_over_d": N / d, "lowrank_vs_ksubspaces": 0.01}
        for model, metric in CURVES:
            rule = (extra or {}).get("mlp", succ) if model == "mlp" else succ
            p[f"{model}_{metric}_success"] = bool(rule(N, d))
        if extra and "rank" in extra:
            p["mlp_jacobian_rank"] = {"0.05": extra["rank"], "0.5": extra["rank"]}
        if extra and "dist" in extra:
            p["lowrank_vs_ksubspaces"] = extra["dist"](N, d, seed)
        pts.append(p)
    return {
        "experiment": {"K": K, "d": d, "models": list(models)},
        "K": K,
        "d": d,
        "ambient": 48,
        "seed": seed,
        "scale": scale,
        "points": pts,
    }


def _claim(rule, **dv):
    return {"id": "x", "derive": {"rule": rule, **dv}}


TRANS = dict(K=2, low_max=0.2, high_min=0.8, high_ratio=2.0, ratio_range=[0.5, 2.0], partly_range=[0.25, 4.0])


@pytest.mark.parametrize(
    "succ,verdict",
    [
        (lambda N, d: N > d, "reproduced"),  # the jump right after N = d
        (lambda N, d: N >= 3 * d, "partly"),  # a jump, but at N50 ≈ 2.45 d
        (lambda N, d: False, "not_reproduced"),  # never succeeds
        (lambda N, d: True, "not_reproduced"),  # succeeds even below d: no transition
    ],
)
def test_transition_rule(succ, verdict):
    grid = (0.5, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)
    rows = [_row(d, s, succ, grid_rel=grid) for d in (3, 5, 8) for s in range(3)]
    claim = _claim("molrg_transition", model="lowrank", metric="param", **TRANS)
    measured, v, _ = RULES["molrg_transition"](claim, rows)
    assert v == verdict
    assert set(measured["per_d"]) == {"3", "5", "8"}


def test_transition_rule_selects_ds_per_scale_and_reports_not_run():
    good = [_row(d, 0, lambda N, d: N > d) for d in (3, 5)]
    bad = [
        _row(
            4,
            0,
            lambda N, d: False,
            models=("lowrank", "ksubspaces", "mlp"),
            extra={"mlp": lambda N, d: False},
        )
    ]
    claim = _claim("molrg_transition", model="lowrank", metric="param", ds={"cpu": [3, 5]}, **TRANS)
    measured, v, _ = RULES["molrg_transition"](claim, good + bad)
    assert v == "reproduced" and set(measured["per_d"]) == {"3", "5"}
    _, v, _ = RULES["molrg_transition"](claim, [_row(3, 0, lambda N, d: True, K=1)])
    assert v == "not_run"


@pytest.mark.parametrize(
    "succ,verdict,slope",
    [
        (lambda N, d: N > d, "reproduced", 1.0),  # N50 ∝ d
        (lambda N, d: N >= 6, "not_reproduced", 0.0),  # N50 does not grow with d
    ],
)
def test_linear_scaling_rule(succ, verdict, slope):
    grid = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
    rows = [_row(d, s, succ, grid_rel=grid) for d in (4, 8, 16) for s in range(2)]
    claim = _claim(
        "molrg_linear_scaling",
        model="ksubspaces",
        metric="param",
        K=2,
        slope_range=[0.75, 1.33],
        partly_range=[0.5, 2.0],
    )
    measured, v, _ = RULES["molrg_linear_scaling"](claim, rows)
    assert v == verdict
    assert measured["slope"] == pytest.approx(slope, abs=0.2)


def test_agreement_rule():
    claim = _claim("molrg_agreement", K=2, min_ratio=1.5, tol=0.1, reproduced_frac=0.9, partly_frac=0.5)
    close = [_row(4, s, lambda N, d: True) for s in range(2)]
    m, v, _ = RULES["molrg_agreement"](claim, close)
    assert v == "reproduced" and m["n"] == 2 * 3  # N in {6, 8, 12} >= 1.5·4
    half = [
        _row(4, s, lambda N, d: True, extra={"dist": lambda N, d, s: 0.05 if s == 0 else 0.5})
        for s in range(2)
    ]
    assert RULES["molrg_agreement"](claim, half)[1] == "partly"
    far = [_row(4, s, lambda N, d: True, extra={"dist": lambda N, d, s: 0.6}) for s in range(2)]
    assert RULES["molrg_agreement"](claim, far)[1] == "not_reproduced"
    assert (
        RULES["molrg_agreement"](
            _claim("molrg_agreement", K=1, tol=0.1, reproduced_frac=0.9, partly_frac=0.5), far
        )[1]
        == "not_run"
    )


@pytest.mark.parametrize(
    "mlp,verdict",
    [
        (lambda N, d: N >= 4 * d, "reproduced"),
        (lambda N, d: False, "partly"),
        (lambda N, d: N > d, "not_reproduced"),
    ],
)
def test_later_rule(mlp, verdict):
    rows = [
        _row(
            4,
            s,
            lambda N, d: N > d,
            models=("lowrank", "ksubspaces", "mlp"),
            extra={"mlp": mlp},
            grid_rel=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0),
        )
        for s in range(3)
    ]
    for metric, base_metric in (("gen", "gen"), ("gl", "param")):
        claim = _claim(
            "molrg_later",
            model="mlp",
            metric=metric,
            baseline="lowrank",
            baseline_metric=base_metric,
            K=2,
            factor=1.5,
        )
        _, v, note = RULES["molrg_later"](claim, rows)
        assert v == verdict and "MLP" in note


def test_later_rule_needs_the_paired_seed_interval():
    """Pooled, the MLP is 2.4x later (11.3 vs 4.8), but per seed it is 4x, 2x and 2x later: the 95% interval of
    the log ratio over 3 seeds reaches below 0, so at most partly (the committed cpu case)."""

    def lowrank(seed):
        return (lambda N, d: N >= 4) if seed == 0 else (lambda N, d: N >= 8)

    rows = []
    for s in range(3):
        r = _row(
            4,
            s,
            lambda N, d: False,
            models=("lowrank", "ksubspaces", "mlp"),
            extra={"mlp": lambda N, d: N >= 16},
            grid_rel=(0.5, 1.0, 2.0, 4.0, 8.0),
        )
        for p in r["points"]:
            p["lowrank_param_success"] = lowrank(s)(p["N"], 4)
        rows.append(r)
    claim = _claim(
        "molrg_later", model="mlp", metric="gl", baseline="lowrank", baseline_metric="param", K=2, factor=1.5
    )
    m, v, _ = RULES["molrg_later"](claim, rows)
    iv = m["per_d"]["4"]["seed_log_ratio"]
    assert m["per_d"]["4"]["model_n50"] >= 1.5 * m["per_d"]["4"]["baseline_n50"]
    assert iv["n"] == 3 and iv["lo"] < 0 < iv["mean"] and v == PARTLY
    _, v, _ = RULES["molrg_later"](claim, rows[:1])  # one seed: no interval, at most partly
    assert v == PARTLY


def test_linear_scaling_needs_its_slope_interval_above_zero():
    """N50/d of 1, 0.5 and 1 at d = 4, 8, 16: the slope is 1 but its 1-dof interval reaches below 0."""
    grid = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
    rows = [
        _row(d, s, (lambda N, d: N > d / 2) if d == 8 else (lambda N, d: N > d), grid_rel=grid)
        for d in (4, 8, 16)
        for s in range(2)
    ]
    claim = _claim(
        "molrg_linear_scaling",
        model="ksubspaces",
        metric="param",
        K=2,
        slope_range=[0.75, 1.33],
        partly_range=[0.5, 2.0],
    )
    m, v, note = RULES["molrg_linear_scaling"](claim, rows)
    assert 0.75 <= m["slope"] <= 1.33 and m["slope_interval"]["lo"] < 0 and v == PARTLY and "interval" in note


@pytest.mark.parametrize("rank,verdict", [(6.0, "reproduced"), (20.0, "partly"), (40.0, "not_reproduced")])
def test_jacobian_rank_rule(rank, verdict):
    rows = [
        _row(
            4,
            s,
            lambda N, d: True,
            models=("lowrank", "ksubspaces", "mlp"),
            extra={"mlp": lambda N, d: True, "rank": rank},
        )
        for s in range(2)
    ]
    m, v, _ = RULES["molrg_jacobian_rank"](_claim("molrg_jacobian_rank", model="mlp", K=2), rows)
    assert v == verdict and m["median"]["4"] == rank


def test_plots_and_tables_from_synthetic_rows(tmp_path):
    rows = [_row(d, s, lambda N, d: N > d) for d in (3, 5) for s in range(2)]
    rows += [
        _row(
            4,
            s,
            lambda N, d: N > d,
            models=("lowrank", "ksubspaces", "mlp"),
            extra={"mlp": lambda N, d: N >= 4 * d, "rank": 9.0},
        )
        for s in range(2)
    ]
    paths = figures.figures(rows, tmp_path)
    names = {p.name for p in paths}
    assert {"molrg_success_vs_N_K2.png", "molrg_transition_vs_d_K2.png", "molrg_jacobian_rank.png"} <= names
    assert all(p.stat().st_size > 0 for p in paths)
    table = figures.tables(rows)
    assert "K-subspaces" in table and "N50" in table


# ----------------------------------------------------------------------------------------------
# the experiment itself, then the pipeline in-process at smoke scale
# ----------------------------------------------------------------------------------------------
def test_tiny_run_is_deterministic_and_recovers_subspaces_at_k1(tmp_path):
    e = Experiment(
        ambient=10,
        K=1,
        d=2,
        n_grid=[1, 6],
        models=["lowrank", "ksubspaces"],
        lowrank_steps=120,
        lowrank_lr=0.1,
        lowrank_restarts=2,
        ksub_restarts=2,
        batch=64,
        n_generate=32,
        sampler_steps=6,
        eval_sigmas=[0.1],
        jacobian_points=1,
        score_points=16,
    )
    a, b = e.run(0, tmp_path, n_jobs=1), e.run(0, None, n_jobs=1)
    a.pop("seconds"), b.pop("seconds")
    for p in a["points"] + b["points"]:
        for k in [k for k in p if k.endswith("_seconds")]:
            p.pop(k)
    assert a == b  # deterministic given the seed
    json.dumps(a)  # serialisable
    assert (tmp_path / "trials.csv").exists()
    one, six = a["points"]
    assert (
        not one["ksubspaces_param_success"] and not one["lowrank_param_success"]
    )  # 1 point cannot fix a plane
    assert six["ksubspaces_error"] < 1e-10  # PCA of 6 noise-free points of a plane is the plane
    assert six["lowrank_error"] < 0.05 and six["lowrank_vs_ksubspaces"] < 0.05
    assert six["lowrank_orthonormality"] < 1e-12
    assert six["lowrank_jacobian_rank"]["0.1"] <= 2


def test_smoke_pipeline_in_process(tmp_path, smoke_overrides):
    from subspacelab.config import compose
    from subspacelab.pipeline import evaluate, report
    from subspacelab.pipeline.plan import plan
    from subspacelab.pipeline.train import run

    runs = plan("molrg_diffusion", "smoke")
    assert len(runs) == 2
    for r in runs:
        m = run(compose(["paper=molrg_diffusion", *smoke_overrides, *r.overrides]))
        grid = m["n_grid"]
        assert [p["N"] for p in m["points"]] == grid
        for p in m["points"]:
            assert isinstance(p["lowrank_param_success"], bool) and isinstance(
                p["ksubspaces_param_success"], bool
            )
            assert 0.0 <= p["lowrank_error"] <= 1.0 and p["lowrank_orthonormality"] < 1e-10
            assert set(p["lowrank_jacobian_rank"]) == {"0.1", "1"}
            if m["K"] == 2:
                assert isinstance(p["mlp_gen_success"], bool) and 0.0 <= p["mlp_frac_memorised"] <= 1.0
    runs_root = str(tmp_path / "runs")
    table = evaluate.run("molrg_diffusion", "smoke", runs_root)
    assert len(table["runs"]) == 2 and not table["missing"]
    out = report.run(
        "molrg_diffusion", "smoke", runs_root, reports_root=tmp_path / "reports", wandb_log=False
    )
    claims = {c["id"]: c for c in out["claims"]}
    assert set(claims) == {
        "k1_equals_pca",
        "k2_matches_ksubspaces",
        "transition_lowrank",
        "transition_ksubspaces",
        "linear_scaling_lowrank",
        "linear_scaling_ksubspaces",
        "mlp_transitions_later",
        "mlp_stops_copying_later",
        "jacobian_low_rank",
        "cpu_budget",
    }
    assert all(c["verdict"] in VERDICTS for c in claims.values())
    # the rules that have smoke data all ran (only the scale-restricted claims are not_run)
    for cid in (
        "k1_equals_pca",
        "k2_matches_ksubspaces",
        "transition_lowrank",
        "transition_ksubspaces",
        "jacobian_low_rank",
    ):
        assert claims[cid]["verdict"] != "not_run", cid
    rdir = Path(out["dir"])
    assert (rdir / "comparison.md").exists() and (rdir / "comparison.json").exists()
    assert (rdir / "molrg_success_vs_N_K2.png").exists() and (rdir / "molrg_transition_vs_d_K2.png").exists()
    assert (rdir / "molrg_jacobian_rank.png").exists()
