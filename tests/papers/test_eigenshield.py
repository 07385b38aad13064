"""eigenshield: the paired rule on hand-made rows (lower is better for ASR), bad settings named by their key, the
data split, the attacks within their budget, and a tiny run end to end (every defence scored, the filter's bases
orthonormal and of the right size, no defence is the classifier itself, a rerun identical, the report's plot and
tables)."""

import pytest
import torch

from subspacelab.configurable import ConfigError
from subspacelab.papers.eigenshield.claims import RULES
from subspacelab.papers.eigenshield.experiment import DEFENCES, Experiment
from subspacelab.papers.eigenshield.figures import figures, tables
from subspacelab.reporting.verdict import NOT, REPRODUCED

TINY = {"dataset": "mnist", "train_size": 192, "epochs": 1, "batch": 64, "calibration_size": 120,
        "perturbations": 2, "pgd_steps": 2, "test_size": 48}  # fmt: skip


def _row(seed, **arms):
    return {"seed": seed, "results": [{"arm": a, **v} for a, v in arms.items()]}


def test_lower_attack_success_passes_and_higher_does_not():
    claim = {"derive": {"metric": "asr_pgd", "lower_is_better": True, "pairs": [["eigenshield", "none"]]}}
    lower = [
        _row(s, eigenshield={"asr_pgd": 0.5 + d}, none={"asr_pgd": 0.99})
        for s, d in enumerate((0, 0.02, 0.04))
    ]
    higher = [
        _row(s, eigenshield={"asr_pgd": 0.995 + d}, none={"asr_pgd": 0.9})
        for s, d in enumerate((0, 0.001, 0.002))
    ]
    assert RULES["shield_paired"](claim, lower).verdict == REPRODUCED
    assert RULES["shield_paired"](claim, higher).verdict == NOT


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"defences": ["eigenshield"]}, "experiment.defences"),
        ({"defences": ["none", "uniguard"]}, "experiment.defences"),
        ({"dataset": "svhn"}, "experiment.dataset"),
        ({"calibration_size": 50}, "experiment.calibration_size"),
        ({"level": 1.0}, "experiment.level"),
        ({"pgd_alpha": 0.1}, "experiment.eps"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


def test_the_training_and_calibration_images_are_disjoint_and_in_the_unit_range():
    data = Experiment(**TINY).data(seed=0)
    train, cal = (
        set(map(tuple, data[k][0].flatten(1)[:, 300:340].tolist())) for k in ("train", "calibration")
    )
    assert len(data["calibration"][0]) == 120 and not train & cal
    assert 0 <= float(data["test"][0].min()) and float(data["test"][0].max()) <= 1


def test_the_attacks_stay_within_their_budget():
    from torch import nn

    exp = Experiment(**TINY)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x, y = torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    for name in ("fgsm", "pgd"):
        xa = exp.attack(name, model, x, y, seed=0)
        assert float((xa - x).abs().max()) <= exp.eps + 1e-6 and 0 <= float(xa.min()) and float(xa.max()) <= 1
        assert torch.equal(xa, exp.attack(name, model, x, y, seed=0))  # seeded (PGD's random start)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return {**Experiment(**TINY).run(seed=2, out_dir=tmp_path_factory.mktemp("tiny")), "seed": 2}


def test_a_tiny_run_scores_every_defence_it_can(tiny_run):
    results = {r["arm"]: r for r in tiny_run["results"]}
    f = tiny_run["filter"]
    assert results["none"]["dims"] == 84 and f["n_causal"] <= f["n_spikes"]
    expected = [d for d in DEFENCES if d == "none" or (d == "spikes" and f["n_spikes"]) or f["n_causal"]]
    assert list(results) == expected
    for r in results.values():
        assert 0 <= r["clean_accuracy"] <= 1 and 0 <= r["asr_pgd"] <= 1 and 0 <= r["asr_pgd_adaptive"] <= 1
    if "eigenshield" in results:
        assert (
            results["eigenshield"]["dims"]
            == results["pca"]["dims"]
            == results["random"]["dims"]
            == f["n_causal"]
        )


def test_the_filter_bases_are_orthonormal_and_the_causal_ones_are_spikes():
    exp = Experiment(**TINY)
    data = exp.data(seed=2)
    embedder, _ = exp.classifier(data, seed=2)
    fitted = exp.fit_filter(embedder, data["calibration"][0], seed=2)
    for basis in fitted["bases"].values():
        torch.testing.assert_close(
            basis.T @ basis, torch.eye(basis.shape[1], dtype=basis.dtype), atol=1e-8, rtol=0
        )
    assert all(int(i) < fitted["spectrum"].n_spikes for i in fitted["causal"])


def test_a_rerun_is_identical(tiny_run, tmp_path):
    again = Experiment(**TINY).run(seed=2, out_dir=tmp_path)
    assert again["results"] == tiny_run["results"] and again["filter"] == tiny_run["filter"]


def test_the_report_draws_its_plot_and_tables(tiny_run, tmp_path):
    rows = [tiny_run, {**tiny_run, "seed": 3}]
    assert [p.name for p in figures(rows, tmp_path)] == ["defences.png"]
    text = tables(rows)
    assert "| none | 84.0 |" in text and "at most n = 2" in text and "Marchenko-Pastur spikes" in text
    assert figures([], tmp_path) == [] and tables([]) == ""
