"""comp_lora: the rules on hand-made rows, bad settings named by their key, the few-shot data, and a tiny run end to
end (every arm scored, the head alone keeps the pretrained accuracy, LoRA and Comp-LoRA train the same number of
parameters, excluded rank 0 is LoRA, a rerun identical, the report's plots and tables)."""

import pytest
import torch

from subspacelab.configurable import ConfigError
from subspacelab.papers.comp_lora.claims import RULES
from subspacelab.papers.comp_lora.experiment import ARMS, Experiment
from subspacelab.papers.comp_lora.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, REPRODUCED

TINY = {"hidden": 24, "pretrain_size": 200, "pretrain_epochs": 1, "shots": 2, "adapt_epochs": 2, "batch": 10, "excluded_rank": 6,
        "curve_ranks": [0, 12], "test_size": 40}  # fmt: skip


def _row(seed, **arms):
    return {"seed": seed, "results": [{"arm": a, **v} for a, v in arms.items()]}


def test_the_leak_rule_and_the_paired_rule():
    leak = {"derive": {"arm": "comp_lora", "tolerance": 1e-5}}
    assert RULES["comp_leak_below"](leak, [_row(0, comp_lora={"principal_leak": 1e-7})]).verdict == REPRODUCED
    assert RULES["comp_leak_below"](leak, [_row(0, comp_lora={"principal_leak": 0.2})]).verdict == NOT
    assert RULES["comp_leak_below"](leak, [_row(0, lora={"accuracy": 0.5})]).verdict == NOT_RUN
    paired = {"derive": {"metric": "retention", "pairs": [["comp_lora", "lora"]]}}
    rows = [
        _row(s, comp_lora={"retention": 0.9 + d}, lora={"retention": 0.85})
        for s, d in enumerate((0, 0.01, 0.02))
    ]
    assert RULES["comp_paired"](paired, rows).verdict == REPRODUCED


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"arms": ["comp_lora", "dora"]}, "experiment.arms"),
        ({"target": "svhn"}, "experiment.target"),
        ({"excluded_rank": 253}, "experiment.excluded_rank"),
        ({"curve_ranks": [-1]}, "experiment.curve_ranks"),
        ({"shots": 0}, "experiment.shots"),
        ({"shots": 2}, "experiment.batch"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


@pytest.mark.parametrize("target", ["fashion_mnist", "mnist_rotated"])
def test_the_few_shot_set_has_shots_per_class_and_is_seeded(target):
    exp = Experiment(**{**TINY, "target": target})
    a, b, c = exp.data(0), exp.data(0), exp.data(1)
    x, y = a["shots"]
    assert x.shape == (20, 1, 28, 28) and torch.equal(torch.bincount(y, minlength=10), torch.full((10,), 2))
    assert torch.equal(x, b["shots"][0]) and not torch.equal(x, c["shots"][0])
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and a["pretrain"][0].shape[0] == 200
    if target == "mnist_rotated":  # other MNIST images than the pretraining ones, turned
        seen = {tuple(r.tolist()) for r in torch.rot90(a["pretrain"][0], 1, (2, 3)).flatten(1)}
        assert not seen & {tuple(r.tolist()) for r in x.flatten(1)}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return {**Experiment(**TINY).run(seed=3, out_dir=tmp_path_factory.mktemp("tiny")), "seed": 3}


def test_a_tiny_run_scores_every_arm(tiny_run):
    results = {r["arm"]: r for r in tiny_run["results"]}
    assert list(results) == list(ARMS)
    for r in results.values():
        assert 0 <= r["accuracy"] <= 1 and r["forgetting"] == pytest.approx(
            tiny_run["pretrained_retention"] - r["retention"]
        )
    assert results["head_only"]["retention"] == tiny_run["pretrained_retention"]  # the backbone is untouched
    assert results["head_only"]["trainable_backbone"] == 0
    assert (
        results["lora"]["trainable_backbone"]
        == results["comp_lora"]["trainable_backbone"]
        == 4 * (784 + 24 + 24 + 24)
    )
    assert results["comp_lora"]["principal_leak"] < 1e-5
    zero = next(p for p in tiny_run["curve"] if p["excluded_rank"] == 0)
    assert (zero["accuracy"], zero["retention"]) == (
        results["lora"]["accuracy"],
        results["lora"]["retention"],
    )


def test_a_rerun_is_identical(tiny_run, tmp_path):
    again = Experiment(**TINY).run(seed=3, out_dir=tmp_path)
    assert again["results"] == tiny_run["results"] and again["curve"] == tiny_run["curve"]


def test_the_report_draws_both_plots_and_tables(tiny_run, tmp_path):
    rows = [tiny_run, {**tiny_run, "seed": 4}]
    assert [p.name for p in figures(rows, tmp_path)] == ["tradeoff.png", "excluded_rank.png"]
    text = tables(rows)
    assert "| comp_lora |" in text and "| 12 |" in text and "n = 2 seeds" in text
    assert figures([], tmp_path) == [] and tables([]) == ""
