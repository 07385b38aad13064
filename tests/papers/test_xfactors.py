"""xfactors: the rules on hand-made rows (paired arms, thresholds, swaps relative to the readers), bad settings
named by their key, and a tiny run end to end (every arm trained and scored in range; a rerun is identical; the
report's plots and tables render)."""

import pytest

from subspacelab.configurable import ConfigError
from subspacelab.papers.xfactors.claims import RULES, with_swap_scores
from subspacelab.papers.xfactors.experiment import ARMS, Experiment
from subspacelab.papers.xfactors.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

TINY = {
    "orientations": 2,
    "positions": 2,
    "width": 4,
    "batch": 16,
    "steps": 2,
    "dci_train": 50,
    "fvs_votes": 50,
    "swap_pairs": 10,
    "classifier_epochs": 1,
}


def _row(seed, **arms):
    return {"seed": seed, "results": [{"arm": a, **m} for a, m in arms.items()]}


def test_the_threshold_rule_needs_every_metric():
    claim = {"derive": {"arm": "xfactors", "metrics": ["dci_d", "fvs"], "reproduced": 0.8, "partly": 0.6}}
    rule = RULES["xfactors_mean_at_least"]
    high = [_row(s, xfactors={"dci_d": 0.85, "fvs": 0.97}) for s in (1, 2)]
    assert rule(claim, high).verdict == REPRODUCED
    mid = [_row(s, xfactors={"dci_d": 0.7, "fvs": 0.97}) for s in (1, 2)]
    assert rule(claim, mid).verdict == PARTLY
    assert rule(claim, [_row(1, xfactors={"dci_d": 0.1, "fvs": 0.97})]).verdict == NOT
    assert rule(claim, [_row(1, vae={"dci_d": 0.9})]).verdict == NOT_RUN


def test_swaps_are_scored_relative_to_the_readers_accuracy():
    row = {
        **_row(1, xfactors={"dci_d": 0.9}),
        "swaps": {"xfactors": {"moved": [0.5, 1.0], "kept": [0.5, 0.5]}, "reader_accuracy": [0.5, 1.0]},
    }
    swap = with_swap_scores([row])[0]["results"][0]["swap"]
    assert swap["moved"] == pytest.approx(1.0)  # each factor moved as often as its reader reads real images
    assert swap["kept"] == pytest.approx(0.5 / 0.75)
    claim = {
        "derive": {
            "arm": "xfactors",
            "metrics": ["swap.moved", "swap.kept"],
            "reproduced": 0.9,
            "partly": 0.6,
        }
    }
    assert RULES["xfactors_swap"](claim, [row]).verdict == PARTLY


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"arms": ["xfactors", "factorvae"]}, "experiment.arms"),
        ({"size": 64}, "experiment.size"),
        ({"positions": 40}, "experiment.positions"),
        ({"test_fraction": 1.0}, "experiment.test_fraction"),
        ({"steps": 0}, "experiment.steps"),
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
        for key in ("dci_d", "dci_c", "dci_i", "fvs"):
            assert 0 <= r[key] <= 1
        assert len(r["importance"]) == 18 and len(r["history"]) >= 1
    swaps = tiny_run["swaps"]
    assert (
        set(swaps) == {"xfactors", "xfactors_no_nce", "reader_accuracy"}
        and len(swaps["reader_accuracy"]) == 5
    )
    assert all(0 <= v <= 1 for v in swaps["xfactors"]["moved"] + swaps["xfactors"]["kept"])


def test_a_rerun_of_the_same_seed_is_identical(tiny_run, tmp_path):
    again = Experiment(**TINY).run(seed=3, out_dir=tmp_path)
    assert again["results"] == tiny_run["results"] and again["swaps"] == tiny_run["swaps"]


def test_the_report_renders_the_tiny_run(tiny_run, tmp_path):
    paths = figures([tiny_run], tmp_path)
    assert [p.name for p in paths] == ["disentanglement.png", "swaps.png"]
    table = tables([tiny_run])
    assert "| xfactors moved |" in table and table.count("\n| ") >= 1 + len(ARMS)
