"""plato_cave: the rules on hand-made rows, bad settings named by their key, and a tiny run end to end (every arm,
k and anchor count scored, in range; a rerun is identical)."""

import pytest

from subspacelab.configurable import ConfigError
from subspacelab.papers.plato_cave.claims import RULES, per_seed
from subspacelab.papers.plato_cave.experiment import ARMS, REDUCED, Experiment
from subspacelab.papers.plato_cave.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

TINY = {
    "ssl_train": 300,
    "epochs": 1,
    "anchors": 200,
    "anchor_sweep": [100, 200],
    "queries": 40,
    "probe_test": 80,
    "k": 4,
    "k_sweep": [2, 4, 64],
}


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"k": 5}, "experiment.k"),
        ({"k_sweep": [2, 80], "k": 2}, r"experiment.k_sweep\[1\]"),
        ({"anchors": 10}, "experiment.anchors"),
        ({"probe_test": 10}, "experiment.probe_test"),
        ({"p_attribute": 1.5}, "experiment.p_attribute"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return {**Experiment(**TINY).run(seed=3, out_dir=tmp_path_factory.mktemp("tiny")), "seed": 3}


def test_a_tiny_run_scores_every_arm_k_and_anchor_count(tiny_run):
    got = [(r["arm"], r["k"], r["anchors"]) for r in tiny_run["results"]]
    expected = [(a, k, 200) for a in ARMS for k in ([2, 4, 64] if a in REDUCED else [None])]
    assert got == expected + [("cca_affine", 4, 100)]
    for r in tiny_run["results"]:
        assert 0 <= r["matching"] <= 1 and 0 <= r["top1"] <= r["top5"] <= 1
    assert 0 <= tiny_run["raw_cka"] <= 1 and len(tiny_run["canonical_correlations"]) == 64
    assert tiny_run["probes"]["subspace"]["dim"] == 4 and tiny_run["probes"]["complement"]["dim"] == 60
    assert set(tiny_run["pretext"]) == {"rotation_accuracy", "masked_word_accuracy"}


def test_a_rerun_of_the_same_seed_is_identical(tiny_run, tmp_path):
    again = Experiment(**TINY).run(seed=3, out_dir=tmp_path)
    assert again["results"] == tiny_run["results"] and again["raw_cka"] == tiny_run["raw_cka"]


def test_the_report_renders_the_tiny_run(tiny_run, tmp_path):
    rows = [tiny_run]
    assert "| CCA-k + affine |" in tables(rows)
    assert [p.name for p in figures(rows, tmp_path)] == ["top5_by_k.png", "top5_by_anchors.png"]


def _rows(values: dict[tuple[str, int | None, int], list[float]], metric="top5", extra=None) -> list[dict]:
    seeds = {}
    for (arm, k, anchors), per in values.items():
        for s, v in enumerate(per):
            seeds.setdefault(s, []).append(
                {"arm": arm, "k": k, "anchors": anchors, metric: v, "matching": v / 2}
            )
    return [{"seed": s, "results": r, **(extra(s) if extra else {})} for s, r in seeds.items()]


def test_paired_difference_rule():
    rule = RULES["plato_cave_paired_difference"]
    claim = {
        "id": "c",
        "derive": {"better": "cca_affine@8", "other": "affine", "metrics": ["top5", "matching"]},
    }
    up = _rows({("cca_affine", 8, 4000): [0.2, 0.25, 0.22], ("affine", None, 4000): [0.05, 0.06, 0.04]})
    assert rule(claim, up).verdict == REPRODUCED
    down = _rows({("cca_affine", 8, 4000): [0.02, 0.03, 0.02], ("affine", None, 4000): [0.05, 0.06, 0.04]})
    assert rule(claim, down).verdict == NOT
    mixed = [dict(row) for row in up]
    for row in mixed:  # matching falls while top-5 rises: one of two metrics above 0
        row["results"] = [{**r, "matching": 0.5 - r["matching"]} for r in row["results"]]
    assert rule(claim, mixed).verdict == PARTLY
    assert rule(claim, _rows({("affine", None, 4000): [0.1]})).verdict == NOT_RUN
    assert per_seed(up, "cca_affine@8", "top5") == {0: 0.2, 1: 0.25, 2: 0.22}


def test_peak_and_anchor_rules():
    peak = RULES["plato_cave_peak_at_small_k"]
    claim = {"id": "c", "derive": {"arm": "cca_affine", "metric": "top5", "max_fraction": 0.25}}
    small = {("cca_affine", k, 4000): [v, v + 0.01, v - 0.01] for k, v in ((2, 0.1), (8, 0.3), (64, 0.1))}
    small[("affine", None, 4000)] = [0.1, 0.1, 0.1]
    assert peak(claim, _rows(small)).verdict == REPRODUCED
    large = {("cca_affine", k, 4000): [v, v + 0.01, v - 0.01] for k, v in ((2, 0.1), (32, 0.3), (64, 0.1))}
    large[("affine", None, 4000)] = [0.1] * 3
    assert peak(claim, _rows(large)).verdict == NOT
    gain = RULES["plato_cave_anchor_gain"]
    sweep = {
        ("cca_affine", 8, n): [v, v + 0.02, v + 0.01] for n, v in ((250, 0.05), (4000, 0.2), (8000, 0.22))
    }
    sweep[("affine", None, 4000)] = [0.1] * 3
    claim = {"id": "c", "derive": {"arm": "cca_affine@8", "metric": "top5"}}
    assert gain(claim, _rows(sweep)).verdict == REPRODUCED
    flat = {("cca_affine", 8, n): [0.1, 0.12, 0.09] for n in (250, 8000)}
    flat[("affine", None, 4000)] = [0.1] * 3
    assert gain(claim, _rows(flat)).verdict == NOT


def test_probe_cka_and_pretext_rules():
    def probes(s, cls=(0.9, 0.6), r2=(0.1, 0.8)):
        return {
            "probes": {
                "subspace": {"dim": 8, "class_accuracy": cls[0] + 0.01 * s, "scale_r2": r2[0]},
                "complement": {"dim": 56, "class_accuracy": cls[1], "scale_r2": r2[1] + 0.01 * s},
            },
            "raw_cka": 0.05 + 0.01 * s,
            "pretext": {"rotation_accuracy": 0.8, "masked_word_accuracy": 0.02 * (s + 1)},
        }

    rows = _rows({("affine", None, 4000): [0.1] * 3}, extra=probes)
    split = RULES["plato_cave_probe_split"]
    assert split({"id": "c", "derive": {}}, rows).verdict == REPRODUCED
    half = _rows({("affine", None, 4000): [0.1] * 3}, extra=lambda s: probes(s, cls=(0.5, 0.7)))
    assert split({"id": "c", "derive": {}}, half).verdict == PARTLY
    below = RULES["plato_cave_mean_below"]
    assert below({"id": "c", "derive": {"metric": "raw_cka", "limit": 0.3}}, rows).verdict == REPRODUCED
    assert below({"id": "c", "derive": {"metric": "raw_cka", "limit": 0.05}}, rows).verdict == NOT
    floors = RULES["plato_cave_pretext_floors"]
    claim = {"id": "c", "derive": {"floors": {"rotation_accuracy": 0.5, "masked_word_accuracy": 0.036}}}
    assert floors(claim, rows).verdict == NOT  # seed 0's masked-word accuracy 0.02 is under its floor
    assert floors(claim, rows[1:]).verdict == REPRODUCED
