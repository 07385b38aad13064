"""igsp: pair forgetting on a hand-made matrix, the paired rule with counts (lower is better), bad settings named by
their key, and a tiny run end to end (every method scored, isolated experts and iGSP forget nothing, iGSP stores no
more than isolated experts, a rerun identical, the report's plot and tables)."""

import pytest

from subspacelab.configurable import ConfigError
from subspacelab.papers.igsp.claims import RULES
from subspacelab.papers.igsp.experiment import METHODS, Experiment, pair_forgetting
from subspacelab.papers.igsp.figures import figures, tables
from subspacelab.reporting.verdict import REPRODUCED

TINY = {"n_train": 64, "n_test": 32, "n_pretrain": 256, "pretrain_epochs": 1, "hidden": 32, "steps_per_task": 4,
        "steps_per_epoch": 2, "batch": 16}  # fmt: skip


def test_pair_forgetting_is_the_first_twins_drop():
    R = [[0.9, None, None, None], [0.7, 0.8, None, None], [0.7, 0.8, 0.6, None], [0.7, 0.8, 0.5, 0.9]]
    assert pair_forgetting(R) == pytest.approx(((0.9 - 0.7) + (0.6 - 0.5)) / 2)
    assert pair_forgetting([[0.5]]) is None


def test_fewer_stored_parameters_pass():
    claim = {"derive": {"metric": "stored", "lower_is_better": True, "pairs": [["igsp", "moe_isolated"]]}}
    rows = [{"seed": s, "results": [{"arm": "igsp", "stored": 100 + s}, {"arm": "moe_isolated", "stored": 200}]}
            for s in range(3)]  # fmt: skip
    assert RULES["igsp_paired"](claim, rows).verdict == REPRODUCED


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"steps_per_epoch": 30}, "experiment.steps_per_epoch"),
        ({"moe_identify_epochs": 5}, "experiment.moe_identify_epochs"),
        ({"moe_experts": 8}, "experiment.moe_experts"),
        ({"moe_prune_below": 1.5}, "experiment.moe_prune_below"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


def test_the_harness_names_a_bad_stream_setting_as_its_other_papers_do():
    with pytest.raises(ValueError, match="^methods: a non-empty subset"):
        Experiment(methods=["igsp", "ewc"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return {**Experiment(**TINY).run(seed=1, out_dir=tmp_path_factory.mktemp("tiny")), "seed": 1}


def test_a_tiny_run_scores_every_method(tiny_run):
    results = {r["arm"]: r for r in tiny_run["results"]}
    assert list(results) == list(METHODS)
    for r in results.values():
        assert 0 <= r["accuracy"] <= 1 and len(r["log"]) == 4
    assert results["moe_isolated"]["forgetting"] == 0 and results["igsp"]["forgetting"] == 0  # held experts
    assert results["igsp"]["stored"] <= results["moe_isolated"]["stored"]
    assert results["igsp"]["trainable_fitted"] <= results["igsp"]["trainable"]
    assert [row["shared_with"] for row in results["moe_similarity"]["log"]][
        1
    ] == 0  # twin 1 reuses task 0's experts


def test_a_rerun_is_identical(tiny_run, tmp_path):
    again = Experiment(**TINY).run(seed=1, out_dir=tmp_path)
    assert again["results"] == tiny_run["results"] and again["R"] == tiny_run["R"]


def test_the_report_draws_its_plot_and_tables(tiny_run, tmp_path):
    rows = [tiny_run, {**tiny_run, "seed": 2}]
    assert [p.name for p in figures(rows, tmp_path)] == ["accuracy_vs_parameters.png"]
    text = tables(rows)
    assert "| igsp |" in text and "n = 2 seeds" in text and "igsp, seed 1" in text
    assert figures([], tmp_path) == [] and tables([]) == ""
