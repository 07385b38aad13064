"""dynamic_subspace_learners: the rules on hand-made rows, bad settings named by their key, and a tiny run end to end
(every arm trained and scored in range, the learners' sizes covering the embedding; a rerun is identical; the
report's plots and tables render)."""

import pytest

from subspacelab.configurable import ConfigError
from subspacelab.papers.dynamic_subspace_learners.claims import RULES
from subspacelab.papers.dynamic_subspace_learners.experiment import ARMS, Experiment
from subspacelab.papers.dynamic_subspace_learners.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

TINY = {"train_size": 256, "val_size": 64, "test_size": 128, "channels": [4, 8, 8], "dim": 16, "epochs": 3,
        "finetune_epoch": 3, "steps_per_epoch": 3, "patience": 1, "batch": 32}  # fmt: skip


def _row(seed, **arms):
    return {"seed": seed, "results": [{"arm": a, **m} for a, m in arms.items()]}


def test_the_paired_rule_passes_within_its_margin():
    claim = {"derive": {"metric": "nmi", "pairs": [["dynamic", "fixed2"]], "margin": 0.02}}
    rule = RULES["adsl_paired"]
    close = [
        _row(s, dynamic={"nmi": 0.60 + d}, fixed2={"nmi": 0.60})
        for s, d in ((1, -0.005), (2, 0.0), (3, 0.004))
    ]
    assert rule(claim, close).verdict == REPRODUCED
    worse = [
        _row(s, dynamic={"nmi": 0.50 + d}, fixed2={"nmi": 0.60}) for s, d in ((1, 0.0), (2, 0.01), (3, -0.01))
    ]
    assert rule(claim, worse).verdict == NOT


def test_growth_is_counted_per_seed():
    rule = RULES["adsl_grows"]
    claim = {"derive": {"arm": "dynamic"}}
    assert (
        rule(claim, [_row(1, dynamic={"learners": 2}), _row(2, dynamic={"learners": 3})]).verdict
        == REPRODUCED
    )
    assert rule(claim, [_row(1, dynamic={"learners": 2}), _row(2, dynamic={"learners": 1})]).verdict == PARTLY
    assert rule(claim, [_row(1, dynamic={"learners": 1})]).verdict == NOT
    assert rule(claim, [_row(1, single={"learners": 1})]).verdict == NOT_RUN
    assert RULES["adsl_not_run"]({"derive": {"reason": "no data"}}, []).verdict == NOT_RUN


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"arms": ["dynamic", "softmax"]}, "experiment.arms"),
        ({"batch": 60}, "experiment.batch"),
        ({"finetune_epoch": 13}, "experiment.finetune_epoch"),
        ({"dataset": "cifar10"}, "experiment.dataset"),
        ({"threshold": 1.0}, "experiment.threshold"),
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
    assert list(results) == list(ARMS)
    for r in results.values():
        assert 0 <= r["nmi"] <= 1 and 0 <= r["recall@1"] <= r["recall@8"] <= 1
    assert results["fixed4"]["sizes"] == [4, 4, 4, 4] and results["single"]["sizes"] == [16]
    assert sum(results["dynamic"]["sizes"]) == 16 and results["dynamic"]["learners"] == len(
        results["dynamic"]["sizes"]
    )
    assert [row["epoch"] for row in results["dynamic"]["schedule"]] == [1, 2, 3]


def test_a_rerun_of_the_same_seed_is_identical(tiny_run, tmp_path):
    again = Experiment(**TINY).run(seed=3, out_dir=tmp_path)
    assert again["results"] == tiny_run["results"]


def test_the_report_renders_the_tiny_run(tiny_run, tmp_path):
    made = figures([tiny_run], tmp_path)
    assert [p.name for p in made] == ["retrieval.png", "growth.png"] and all(
        p.stat().st_size > 0 for p in made
    )
    text = tables([tiny_run])
    assert "| dynamic |" in text and "n = 1 seeds" in text
