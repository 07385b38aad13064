"""mhs_vm: the rules on hand-made rows, bad settings named by their key, the stand-in data, and a tiny run end to
end (every arm trained and scored in range, the route attention and the sum of the same size, a rerun identical,
the report's plot and table)."""

import pytest
import torch

from subspacelab.configurable import ConfigError
from subspacelab.data.segmentation import synthetic_shapes, thresholded
from subspacelab.papers.mhs_vm.claims import RULES
from subspacelab.papers.mhs_vm.experiment import ARMS, Experiment
from subspacelab.papers.mhs_vm.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

TINY = {"train_size": 32, "test_size": 16, "batch": 16, "epochs": 1, "dims": [8, 16], "d_state": 4}


def _row(seed, **arms):
    return {"seed": seed, "results": [{"arm": a, **m} for a, m in arms.items()]}


def _scores(a, b):
    return {"shapes": {"dsc": a, "parameters": 90}, "fashion_mnist": {"dsc": b, "parameters": 90}}


def test_the_paired_rule_asks_every_dataset():
    claim = {"derive": {"metric": "dsc", "pairs": [["mhs", "ss2d"]]}}
    rule = RULES["mhs_paired"]
    both = [
        _row(s, mhs=_scores(0.8 + d, 0.9 + d), ss2d=_scores(0.7, 0.8))
        for s, d in ((0, 0.01), (1, 0.0), (2, 0.02))
    ]
    assert rule(claim, both).verdict == REPRODUCED
    one = [
        _row(s, mhs=_scores(0.8 + d, 0.8 - d), ss2d=_scores(0.7, 0.8))
        for s, d in ((0, 0.01), (1, 0.0), (2, 0.02))
    ]
    assert rule(claim, one).verdict == PARTLY
    none = [
        _row(s, mhs=_scores(0.6 + d, 0.7), ss2d=_scores(0.7, 0.8))
        for s, d in ((0, 0.01), (1, 0.0), (2, 0.02))
    ]
    assert rule(claim, none).verdict == NOT
    assert rule(claim, [_row(0, mhs=_scores(0.8, 0.8))]).verdict == NOT_RUN


def test_the_parameter_rule_and_the_threshold_rule():
    small, big = _scores(0.5, 0.5), {k: {**v, "parameters": 150} for k, v in _scores(0.5, 0.5).items()}
    claim = {"derive": {"arm": "mhs", "baseline": "ss2d"}}
    assert RULES["mhs_fewer_parameters"](claim, [_row(0, mhs=small, ss2d=big)]).verdict == REPRODUCED
    assert RULES["mhs_fewer_parameters"](claim, [_row(0, mhs=big, ss2d=small)]).verdict == NOT
    floor = {"shapes": {"dsc": 0.3}, "fashion_mnist": {"dsc": 0.7}}
    rule, claim = RULES["mhs_beats_threshold"], {"derive": {"metric": "dsc", "baseline": "threshold"}}
    assert rule(claim, [_row(0, threshold=floor, mhs=_scores(0.5, 0.8))]).verdict == REPRODUCED
    assert (
        rule(claim, [_row(0, threshold=floor, mhs=_scores(0.5, 0.8), ss2d=_scores(0.2, 0.6))]).verdict
        == PARTLY
    )


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"arms": ["mhs", "vit"]}, "experiment.arms"),
        ({"datasets": ["isic2018"]}, "experiment.datasets"),
        ({"heads": 5}, "experiment.heads"),
        ({"dims": [30, 60]}, "experiment.heads"),
        ({"dims": [32, 64, 128, 256, 512]}, "experiment.dims"),
        ({"batch": 5000}, "experiment.batch"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


def test_the_stand_in_sets_are_seeded_and_need_more_than_a_threshold():
    x, m = synthetic_shapes(64, seed=5)
    assert torch.equal(x, synthetic_shapes(64, seed=5)[0]) and not torch.equal(
        x, synthetic_shapes(64, seed=6)[0]
    )
    assert x.shape == m.shape == (64, 1, 32, 32) and set(m.unique().tolist()) == {0.0, 1.0}
    assert 0.05 < m.mean() < 0.5
    images = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 10:20, 5:15] = 200
    inputs, masks = thresholded(images, seed=0)
    assert inputs.shape == masks.shape == (3, 1, 32, 32) and masks.sum() == 3 * 100  # the padded garment
    assert masks[:, :, 12:22, 7:17].sum() == 300 and not torch.equal(inputs[0], inputs[1])  # noise differs


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return {**Experiment(**TINY).run(seed=3, out_dir=tmp_path_factory.mktemp("tiny")), "seed": 3}


def test_a_tiny_run_trains_and_scores_every_arm_on_every_dataset(tiny_run):
    results = {r["arm"]: r for r in tiny_run["results"]}
    assert list(results) == ["threshold", *ARMS]
    for arm, r in results.items():
        for dataset in ("shapes", "fashion_mnist"):
            assert 0 <= r[dataset]["dsc"] <= 1 and 0 <= r[dataset]["iou"] <= r[dataset]["dsc"] + 1e-12
            if arm != "threshold":
                assert (
                    len(r[dataset]["history"]) == 1
                    and r[dataset]["parameters"] > r[dataset]["mixer_parameters"]
                )
    sizes = {a: results[a]["shapes"]["parameters"] for a in ARMS}
    assert sizes["mhs"] == sizes["mhs_sum"] < sizes["ss2d"]


def test_a_rerun_of_the_same_seed_is_identical(tiny_run, tmp_path):
    again = Experiment(**TINY).run(seed=3, out_dir=tmp_path)

    def drop_time(results):
        return [
            {k: {**v, "train_seconds": 0} if isinstance(v, dict) else v for k, v in r.items()}
            for r in results
        ]

    assert drop_time(again["results"]) == drop_time(tiny_run["results"])


def test_the_report_renders_the_tiny_run(tiny_run, tmp_path):
    made = figures([tiny_run], tmp_path)
    assert [p.name for p in made] == ["dsc.png"] and made[0].stat().st_size > 0
    text = tables([tiny_run])
    assert "| mhs |" in text and "| threshold | - |" in text and "n = 1 seeds" in text
