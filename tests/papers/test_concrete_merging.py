"""concrete_merging: the rules on hand-made rows, bad settings named by their key, the tasks' data, and a tiny run
end to end (every arm scored on every task, the individual models at normalised accuracy 1, a rerun identical, the
report's plot and table)."""

import pytest
import torch

from subspacelab.configurable import ConfigError
from subspacelab.papers.concrete_merging.claims import RULES
from subspacelab.papers.concrete_merging.experiment import ARMS, TASKS, Experiment, grey28
from subspacelab.papers.concrete_merging.figures import figures, tables
from subspacelab.reporting.verdict import NOT_RUN, PARTLY, REPRODUCED

TINY = {"pretrain_per_source": 64, "pretrain_epochs": 1, "finetune_size": 64, "finetune_epochs": 1, "val_size": 32,
        "test_size": 32, "mask_epochs": 1, "scale_grid": [0.3, 1.0]}  # fmt: skip


def _row(seed, **arms):
    return {"seed": seed, "results": [{"arm": a, "accuracy": v} for a, v in arms.items()]}


def test_the_ceiling_rule():
    rule, claim = RULES["concrete_below_ceiling"], {"derive": {"metric": "accuracy", "ceiling": "individual"}}
    assert rule(claim, [_row(0, individual=0.9, ties=0.6, concrete_ta=0.7)]).verdict == REPRODUCED
    assert rule(claim, [_row(0, individual=0.9, ties=0.6, concrete_ta=0.95)]).verdict == PARTLY
    assert rule(claim, [_row(0, ties=0.6)]).verdict == NOT_RUN


def test_the_paired_rule_compares_arms_per_seed():
    claim = {"derive": {"metric": "accuracy", "pairs": [["concrete_ta", "task_arithmetic"]]}}
    rows = [_row(s, concrete_ta=0.7 + d, task_arithmetic=0.6) for s, d in enumerate((0.01, 0.02, 0.03))]
    assert RULES["concrete_paired"](claim, rows).verdict == REPRODUCED


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"arms": ["concrete_ta", "emr"]}, "experiment.arms"),
        ({"tasks": ["mnist"]}, "experiment.tasks"),
        ({"tasks": ["svhn", "mnist"]}, "experiment.tasks"),
        ({"ties_top": 0.0}, "experiment.ties_top"),
        ({"mask_batch": 5000}, "experiment.mask_batch"),
        ({"scale_grid": []}, "experiment.scale_grid"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


def test_grey28_averages_channels_and_resizes():
    rgb = torch.full((2, 3, 32, 32), 255, dtype=torch.uint8)
    rgb[:, 1] = 0
    out = grey28(rgb)
    assert out.shape == (2, 1, 28, 28) and torch.allclose(out, torch.full_like(out, 2 / 3))
    assert grey28(torch.zeros(1, 1, 28, 28, dtype=torch.uint8)).shape == (1, 1, 28, 28)


def test_the_tasks_are_disjoint_and_the_rotated_task_is_turned():
    data = Experiment(**TINY).data(seed=0)
    assert data["pretrain"][0].shape == (3 * 64, 1, 28, 28) and int(data["pretrain"][1].max()) < 30
    flat = lambda x: {tuple(r.tolist()) for r in x.flatten(1)[:, 200:260]}  # noqa: E731
    assert not flat(data["mnist"]["train"][0]) & flat(data["mnist"]["val"][0])
    turned = torch.rot90(data["mnist_rotated"]["train"][0], -1, (2, 3))
    assert not flat(turned) & flat(data["mnist"]["train"][0])  # other MNIST images, not the same ones turned


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return {**Experiment(**TINY).run(seed=3, out_dir=tmp_path_factory.mktemp("tiny")), "seed": 3}


def test_a_tiny_run_scores_every_arm_on_every_task(tiny_run):
    results = {r["arm"]: r for r in tiny_run["results"]}
    assert list(results) == list(ARMS)
    for r in results.values():
        assert sorted(r["per_task"]) == sorted(TASKS) and 0 <= r["accuracy"] <= 1
    assert results["individual"]["normalized"] == pytest.approx(1.0)
    assert results["task_arithmetic_tuned"]["scale"] in (0.3, 1.0)
    assert (
        len(results["concrete_ta"]["history"]) == 1
        and 0 < results["concrete_ta"]["mean_keep_probability"] < 1
    )


def test_a_rerun_of_the_same_seed_is_identical(tiny_run, tmp_path):
    again = Experiment(**TINY).run(seed=3, out_dir=tmp_path)
    assert [r["per_task"] for r in again["results"]] == [r["per_task"] for r in tiny_run["results"]]


def test_the_report_renders_the_tiny_run(tiny_run, tmp_path):
    made = figures([tiny_run], tmp_path)
    assert [p.name for p in made] == ["accuracy.png"] and made[0].stat().st_size > 0
    text = tables([tiny_run])
    assert "| concrete_ta |" in text and "n = 1 seeds" in text and "mnist_rotated" in text
