"""mmcr: the paired rule on hand-made rows, bad settings named by their key, and a tiny run end to end (every arm
trained at the same view budget and scored in range; a rerun is identical; the report's plots and table render)."""

import pytest

from subspacelab.configurable import ConfigError
from subspacelab.papers.mmcr.claims import RULES, metric_of
from subspacelab.papers.mmcr.experiment import ARMS, Experiment
from subspacelab.papers.mmcr.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

TINY = {
    "ssl_train": 256,
    "steps": 2,
    "views_per_step": 32,
    "probe_test": 120,
    "knn_k": 10,
    "geometry_images": 20,
    "geometry_views": 4,
    "hidden": 32,
    "out_dim": 16,
    "channels": [4, 8],
}


def _rows(probe: dict[str, list[float]]) -> list[dict]:
    seeds = range(len(next(iter(probe.values()))))
    return [{"seed": s, "results": [{"arm": a, "probe": v[s]} for a, v in probe.items()]} for s in seeds]


def test_the_paired_rule_passes_a_comparison_whose_interval_clears_the_margin():
    claim = {
        "derive": {
            "rule": "mmcr_paired",
            "metric": "probe",
            "pairs": [["mmcr", "simclr"], ["mmcr", "barlow"]],
        }
    }
    rule = RULES["mmcr_paired"]
    rows = _rows({"mmcr": [0.80, 0.81, 0.82], "simclr": [0.70, 0.72, 0.71], "barlow": [0.85, 0.86, 0.87]})
    assert rule(claim, rows).verdict == PARTLY  # above simclr, below barlow
    within = {**claim, "derive": {**claim["derive"], "margin": 0.1}}
    assert rule(within, rows).verdict == REPRODUCED  # barlow − mmcr = 0.05 < the margin of 0.1
    lower = {"derive": {**claim["derive"], "lower_is_better": True}}
    assert rule(lower, rows).verdict == PARTLY
    assert rule(claim, _rows({"mmcr": [0.8, 0.7, 0.9], "simclr": [0.9, 0.6, 0.8]})).verdict == NOT
    assert rule(claim, _rows({"other": [0.8]})).verdict == NOT_RUN
    one = rule(claim, _rows({"mmcr": [0.9], "simclr": [0.1], "barlow": [0.1]}))
    assert one.verdict == PARTLY and "n = 1 seeds" in one.measured["value"]  # no interval from one seed
    assert metric_of({"geometry": {"radius": 0.5}}, "geometry.radius") == 0.5
    assert metric_of({"geometry": {}}, "geometry.radius") is None


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"views": 1}, "experiment.views"),
        ({"views": 3}, "experiment.views_per_step"),
        ({"arms": ["mmcr", "byol"]}, "experiment.arms"),
        ({"backbone": "vit"}, "experiment.backbone"),
        ({"geometry_images": 20000}, "experiment.geometry_images"),
        ({"crop_scale": [0.5, 0.2]}, "experiment.crop_scale"),
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
    assert results["mmcr"]["views"] == 4 and results["simclr"]["views"] == 2
    for arm, r in results.items():
        assert 0 <= r["probe"] <= 1 and 0 <= r["knn"] <= 1
        g = r["geometry"]
        assert 0 <= g["radius"] <= 2 and 1 <= g["dimension"] <= 4 and 0 < g["centroid_nuclear_norm"] <= 20
        assert len(r["history"]) == (0 if arm == "random_init" else 1)
    assert "global_nuc" in results["mmcr"]["history"][0]


def test_a_rerun_of_the_same_seed_is_identical(tiny_run, tmp_path):
    assert Experiment(**TINY).run(seed=3, out_dir=tmp_path)["results"] == tiny_run["results"]


def test_the_report_renders_the_tiny_run(tiny_run, tmp_path):
    paths = figures([tiny_run], tmp_path)
    assert [p.name for p in paths] == ["accuracy_and_radius.png", "objective.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    table = tables([tiny_run])
    assert table.count("\n| ") == 1 + len(ARMS) and "n = 1 seeds" in table


def test_the_paper_scale_backbone_is_the_codes_cifar_resnet50():
    import torch

    encoder, projector = Experiment(backbone="resnet50").network(3, seed=0)
    assert encoder.conv1.kernel_size == (3, 3) and encoder.conv1.stride == (1, 1)
    assert isinstance(encoder.maxpool, torch.nn.Identity) and encoder.out_dim == 2048
    with torch.no_grad():
        z = projector.eval()(encoder.eval()(torch.rand(2, 3, 32, 32)))
    assert z.shape == (2, 128)
