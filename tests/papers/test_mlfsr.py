"""mlfsr: the rules on hand-made rows, bad settings named by their key, and a tiny run end to end (every arm
trained and scored, mamba and mamba_t2m from the same start, the efficiency measured per side, a rerun identical,
the report's plots and tables)."""

import pytest

from subspacelab.configurable import ConfigError
from subspacelab.papers.mlfsr.claims import RULES, loglog_slope
from subspacelab.papers.mlfsr.experiment import ARMS, Experiment
from subspacelab.papers.mlfsr.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

TINY = {
    "train_scenes": 4,
    "test_scenes": 2,
    "size": 8,
    "channels": 4,
    "d_state": 2,
    "efficiency_sizes": [2, 4],
}


def _row(seed, **arms):
    return {"seed": seed, "results": [{"arm": a, **m} for a, m in arms.items()]}


def _cost(seconds, mb):
    return {str(s): {"seconds": seconds * s, "peak_mb": mb * s * s} for s in (8, 16)}


def test_the_cheaper_rule_asks_a_seed_interval_at_the_largest_side_and_shows_the_slopes():
    rule, claim = (
        RULES["mlfsr_cheaper"],
        {"derive": {"metric": "seconds", "arm": "mamba", "baseline": "transformer"}},
    )
    rows = [_row(s, mamba={"efficiency": _cost(1.0 + d, 1.0)}, transformer={"efficiency": _cost(2.0, 1.0)})
            for s, d in enumerate((0.0, 0.1, 0.05))]  # fmt: skip
    v = rule(claim, rows)
    assert v.verdict == REPRODUCED and v.measured["slopes"]["mamba"] == pytest.approx(0.5, abs=0.01)
    assert rule(claim, rows[:1]).verdict == PARTLY  # one seed: no interval to exclude 0
    noisy = [_row(s, mamba={"efficiency": _cost(1.9 + d, 1.0)}, transformer={"efficiency": _cost(2.0, 1.0)})
             for s, d in enumerate((0.0, 0.3, -0.2))]  # fmt: skip
    assert rule(claim, noisy).verdict == NOT  # cheaper on average, but the interval reaches 0
    slower = [
        _row(s, mamba={"efficiency": _cost(3.0, 1.0)}, transformer={"efficiency": _cost(2.0, 1.0)})
        for s in (0, 1)
    ]
    assert rule(claim, slower).verdict == NOT
    assert rule(claim, [_row(0, mamba={"psnr": 30.0})]).verdict == NOT_RUN
    assert loglog_slope({4: 16.0, 8: 64.0, 16: 256.0}) == pytest.approx(1.0)  # linear in the pixel count


def test_the_floor_and_size_rules():
    rule, claim = RULES["mlfsr_beats_floor"], {"derive": {"metric": "psnr", "baseline": "bicubic"}}
    assert (
        rule(claim, [_row(0, bicubic={"psnr": 30.0}, cnn={"psnr": 31.0}, mamba={"psnr": 32.0})]).verdict
        == REPRODUCED
    )
    assert (
        rule(claim, [_row(0, bicubic={"psnr": 30.0}, cnn={"psnr": 29.0}, mamba={"psnr": 32.0})]).verdict
        == PARTLY
    )
    sizes, claim = RULES["mlfsr_matched_sizes"], {"derive": {"arm": "mamba", "tolerance": 0.1}}
    close = [_row(0, mamba={"parameters": 100}, cnn={"parameters": 95}, transformer={"parameters": 109})]
    assert sizes(claim, close).verdict == REPRODUCED
    assert sizes(claim, [_row(0, mamba={"parameters": 100}, cnn={"parameters": 80})]).verdict == NOT


def test_the_paired_rule_takes_a_margin():
    rule = RULES["mlfsr_paired"]
    claim = {"derive": {"metric": "psnr", "pairs": [["mamba", "transformer"]], "margin": 0.2}}
    rows = [
        _row(s, mamba={"psnr": 30.0 - d}, transformer={"psnr": 30.0})
        for s, d in ((0, 0.05), (1, 0.1), (2, 0.07))
    ]
    assert rule(claim, rows).verdict == REPRODUCED  # 0.07 dB lower, well inside the 0.2 dB tolerance
    far = [
        _row(s, mamba={"psnr": 29.0 - d}, transformer={"psnr": 30.0})
        for s, d in ((0, 0.05), (1, 0.1), (2, 0.07))
    ]
    assert rule(claim, far).verdict == NOT


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"arms": ["mamba", "vit"]}, "experiment.arms"),
        ({"arms": ["mamba", "mamba_t2m"]}, "experiment.arms"),
        ({"size": 30}, "experiment.size"),
        ({"scale": 3}, "experiment.scale"),
        ({"batch": 5000}, "experiment.batch"),
        ({"efficiency_sizes": [1]}, "experiment.efficiency_sizes"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return {**Experiment(**TINY).run(seed=3, out_dir=tmp_path_factory.mktemp("tiny")), "seed": 3}


def test_a_tiny_run_trains_and_scores_every_arm(tiny_run):
    results = {r["arm"]: r for r in tiny_run["results"]}
    assert list(results) == ["bicubic", *ARMS]
    for arm in ARMS:
        r = results[arm]
        assert 5 < r["psnr"] < 60 and len(r["history"]) == 1 and r["parameters"] > 0 and "state" not in r
    assert results["mamba"]["parameters"] == results["mamba_t2m"]["parameters"]
    assert (
        results["mamba"]["psnr"] != results["mamba_t2m"]["psnr"]
    )  # the T2M term moved the same start elsewhere
    for arm in ("cnn", "transformer", "mamba"):
        assert sorted(results[arm]["efficiency"], key=int) == ["2", "4"]
    assert "efficiency" not in results["mamba_t2m"]  # the same architecture as mamba


def test_a_rerun_of_the_same_seed_is_identical(tiny_run, tmp_path):
    again = Experiment(**{**TINY, "efficiency_sizes": [2]}).run(seed=3, out_dir=tmp_path)

    def scores(run):
        return [(r["arm"], r["psnr"], r.get("history")) for r in run["results"]]

    assert scores(again) == scores(tiny_run)


def test_the_report_renders_the_tiny_run(tiny_run, tmp_path):
    made = figures([tiny_run], tmp_path)
    assert [p.name for p in made] == ["psnr.png", "efficiency.png"] and all(
        p.stat().st_size > 0 for p in made
    )
    text = tables([tiny_run])
    assert "| mamba_t2m |" in text and "| bicubic | - |" in text and "n = 1 seeds" in text and "s = 4" in text
