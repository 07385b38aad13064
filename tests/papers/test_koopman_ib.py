"""koopman_ib: the objectives' weights follow the paper's and the code's signs, a tiny run of every objective shares
its data and is deterministic, bad settings name their key, and the rules on hand-made rows. The maths is tested
in tests/dynamics/test_koopman.py, the Lightning training in tests/integration/test_koopman_lightning.py."""

import pytest
import torch

from subspacelab.configurable import ConfigError
from subspacelab.papers.koopman_ib.claims import RULES, metric_of
from subspacelab.papers.koopman_ib.experiment import OBJECTIVES, Experiment
from subspacelab.papers.koopman_ib.figures import figures, tables
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

TINY = {
    "train_trajectories": 4,
    "test_trajectories": 2,
    "length": 40,
    "epochs": 1,
    "horizons": [1, 5, 20],
    "batch_size": 4,
}


def test_the_objectives_weights_and_signs():
    w = {o: Experiment(objective=o).weights() for o in OBJECTIVES}
    assert (w["kae"].mi, w["kae"].entropy) == (0.0, 0.0)
    assert (w["kae_mi"].mi, w["kae_mi"].entropy) == (2.0, 0.0)
    assert w["kae_mi_entropy"].entropy == -0.1  # the paper maximises the entropy
    assert w["kae_mi_entropy_code"].entropy == 0.1  # the released code adds it to the minimised loss


def test_a_tiny_run_of_each_objective_shares_its_data_and_is_deterministic(tmp_path):
    a, test_a = Experiment(objective="kae", **TINY).data(2)
    b, test_b = Experiment(objective="kae_mi_entropy", **TINY).data(2)
    assert torch.equal(a, b) and torch.equal(test_a, test_b)
    assert a.shape == (4 * len(range(0, 40 - 16, 8)), 17, 64) and test_a.shape == (2, 40, 64)
    out = Experiment(objective="kae_mi_entropy", system="stuart_landau", **TINY).run(seed=1, out_dir=tmp_path)
    assert set(out["rollout_error"]) == {"1", "5", "20"} and out["effective_rank"] >= 1.0
    assert set(out["final_losses"]) == {"epoch", "loss", "fwd", "id", "mi", "entropy"}
    again = Experiment(objective="kae_mi_entropy", system="stuart_landau", **TINY).run(
        seed=1, out_dir=tmp_path
    )
    assert again == out


@pytest.mark.parametrize(
    "kw,key",
    [
        ({"system": "pendulum"}, "experiment.system"),
        ({"objective": "vae"}, "experiment.objective"),
        ({"seq_length": 6}, "experiment.seq_length"),
        ({"horizons": [500]}, "experiment.horizons"),
        ({"train_trajectories": 1, "window_stride": 100}, "experiment.batch_size"),
    ],
)
def test_bad_settings_name_their_key(kw, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        Experiment(**kw)


def _rows(values: dict[tuple[str, str], list[float]]) -> list[dict]:
    return [
        {
            "system": s,
            "objective": o,
            "seed": i,
            "effective_rank": v,
            "rollout_error": {"50": 1.0 / v},
            "spectrum": {"max_modulus": 0.5 + v / 10},
        }
        for (s, o), per in values.items()
        for i, v in enumerate(per)
    ]


def test_rules_on_hand_made_rows(tmp_path):
    rule = RULES["koopman_paired_difference"]
    claim = {"derive": {"metric": "effective_rank", "better": "kae_mi_entropy", "other": "kae_mi"}}
    rows = _rows(
        {
            ("duffing", "kae_mi_entropy"): [5.0, 5.2, 5.1],
            ("duffing", "kae_mi"): [4.0, 4.1, 4.0],
            ("lorenz", "kae_mi_entropy"): [5.0, 5.2, 5.1],
            ("lorenz", "kae_mi"): [4.0, 4.1, 4.0],
        }
    )
    assert rule(claim, rows).verdict == REPRODUCED
    mixed = rows + _rows(
        {("stuart_landau", "kae_mi_entropy"): [3.0, 3.1, 3.0], ("stuart_landau", "kae_mi"): [4.0, 4.1, 4.0]}
    )
    assert rule(claim, mixed).verdict == PARTLY
    lower = {"derive": {**claim["derive"], "metric": "rollout_error.50", "lower_is_better": True}}
    assert rule(lower, rows).verdict == REPRODUCED  # 1 / rank: the better objective has the lower error
    assert rule({"derive": {**claim["derive"], "better": "kae"}}, rows).verdict == NOT_RUN
    assert (
        metric_of(rows[0], "spectrum.max_modulus") == pytest.approx(1.0)
        and metric_of(rows[0], "nope.x") is None
    )
    stable = {"derive": {"objective": "kae_mi_entropy", "limit": 1.005}}
    assert RULES["koopman_stable"](stable, rows).verdict == NOT  # radii 1.0, 1.02, 1.01 per system: 2 of 6
    assert RULES["koopman_stable"]({"derive": {**stable["derive"], "limit": 1.015}}, rows).verdict == PARTLY
    assert (
        RULES["koopman_stable"]({"derive": {**stable["derive"], "limit": 1.05}}, rows).verdict == REPRODUCED
    )
    runs = [
        {**Experiment(objective=o, **TINY).run(seed=0, out_dir=tmp_path), "seed": 0}
        for o in ("kae", "kae_mi")
    ]
    assert [p.name for p in figures(runs, tmp_path)] == ["rollout_error_duffing.png"]
    assert "| duffing | KAE + MI | 1 |" in tables(runs)
