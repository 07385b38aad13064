"""DSE paper glue (subspacelab.papers.dse) and the DSE/DSMI training callback (subspacelab.analysis.dse_callback):
toy generators, the random-label wrapper, the per-epoch callback, the measures on known cases, and the rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from subspacelab.analysis.dse_callback import (
    DiffusionEntropyCallback,
    penultimate_layer,
    representation_measures,
    representation_scale,
)
from subspacelab.analysis.information import classic_shannon_entropy, diffusion_spectral_entropy
from subspacelab.models import build_model
from subspacelab.papers import dse as P

# ----------------------------------------------------------------------------------------------
# Toy generators
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("distribution", ["uniform", "gaussian"])
@pytest.mark.parametrize("k", [1, 3, 7])
def test_toy_points_have_the_intended_intrinsic_dimension(distribution, k):
    rng = np.random.default_rng(0)
    x = P.toy_subspace_points(40, 12, k, distribution, rng)
    centred = x - x.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    assert int(np.sum(sv > 1e-9 * sv[0])) == k  # exactly k directions of variation
    assert np.allclose(x[:, k:], x[0, k]) and x.shape == (40, 12)  # the rest is one constant
    if distribution == "uniform":
        assert np.all(np.abs(x[:, :k]) <= 1.0)


def test_uniform_noise_fills_every_coordinate_and_keeps_amplitude():
    rng = np.random.default_rng(1)
    clean = P.toy_subspace_points(50, 10, 2, "uniform", rng)
    noisy = P.add_uniform_noise(clean, 0.1, rng)
    diff = noisy - clean
    assert np.all(np.abs(diff) <= 0.1) and np.linalg.matrix_rank(noisy - noisy.mean(axis=0)) == 10
    assert np.array_equal(P.add_uniform_noise(clean, 0.0, rng), clean)


def test_intrinsic_dims_follow_the_official_linspace():
    assert P.intrinsic_dims(2048, 20)[:3] == [102, 204, 306] and P.intrinsic_dims(2048, 20)[-1] == 2048
    assert P.intrinsic_dims(32, 4) == [8, 16, 24, 32]


def test_toy_dse_grows_with_k_and_cse_sits_at_log2_n_under_noise():
    rng = np.random.default_rng(2)
    n = 120
    dse = [diffusion_spectral_entropy(P.toy_subspace_points(n, 400, k, "uniform", rng), 10.0, 1)
           for k in (20, 80, 200, 400)]
    assert all(b > a for a, b in zip(dse, dse[1:], strict=False))
    assert max(dse) <= math.log2(n) + 1e-9  # entropy of a distribution over n eigenvalues
    noisy = P.add_uniform_noise(P.toy_subspace_points(n, 400, 2, "uniform", rng), 0.01, rng)
    # 2 bins x 400 noisy coordinates: every point in its own cell -> exactly log2 N, whatever k is
    assert classic_shannon_entropy(noisy, 2) == pytest.approx(math.log2(n), abs=1e-9)


# ----------------------------------------------------------------------------------------------
# Random labels
# ----------------------------------------------------------------------------------------------


class _Batches(torch.utils.data.Dataset):
    def __init__(self, n):
        self.x = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3)
        self.y = torch.arange(n) % 5

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        return self.x[idx], self.y[idx]


def test_permuted_labels_are_a_deterministic_seeded_permutation():
    base = _Batches(200)
    a, b, c = P.PermutedLabels(base, 7), P.PermutedLabels(base, 7), P.PermutedLabels(base, 8)
    assert torch.equal(a.y, b.y) and not torch.equal(a.y, c.y)
    assert torch.equal(a.y.sort().values, base.y.sort().values)  # class frequencies kept
    assert (a.y != base.y).float().mean() > 0.5  # labels really moved
    idx = [3, 0, 150]
    x, y = a[idx]
    assert torch.equal(x, base.x[idx]) and torch.equal(y, a.y[idx]) and len(a) == len(base)
    assert torch.equal(base.y, torch.arange(200) % 5)  # the wrapped dataset is untouched


# ----------------------------------------------------------------------------------------------
# Layer choice, scale, measures
# ----------------------------------------------------------------------------------------------


def test_penultimate_layer_is_the_input_of_the_last_linear():
    assert penultimate_layer(build_model("lenet", seed=0)) == "classifier.4"
    assert penultimate_layer(build_model("mlp", seed=0, width=16, depth=2)) == "net.4"
    assert penultimate_layer(build_model("convnet", seed=0, channels=4, hidden=8)) == "classifier.2"
    with pytest.raises(ValueError):
        penultimate_layer(nn.Sequential(nn.Linear(2, 2)))


def test_representation_scale_closed_form():
    z = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])  # centre (1, 1), every point at distance sqrt 2
    assert representation_scale(z) == pytest.approx(math.sqrt(2.0))
    assert representation_scale(torch.tensor(z) * 3.0) == pytest.approx(3.0 * math.sqrt(2.0))


def test_dsmi_with_labels_is_large_for_separated_classes_and_small_for_shuffled_ones():
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(4), 40)
    centres = rng.normal(0.0, 15.0, (4, 8))
    z = centres[y] + rng.normal(0.0, 1.0, (160, 8))
    m = representation_measures(z, y, x_clusters=y, classic=True, num_repetitions=3)
    shuffled = representation_measures(z, rng.permutation(y), x_clusters=None, classic=False, num_repetitions=3)
    assert m["dsmi_zy"] > 1.0 and abs(shuffled["dsmi_zy"]) < 0.3 * m["dsmi_zy"]
    assert m["dsmi_zx"] == pytest.approx(m["dsmi_zy"])  # same clusters -> same number
    assert {"dse_z", "cse_z", "csmi_zy", "csmi_zx", "z_scale"} <= set(m) and "dsmi_zx" not in shuffled
    assert m["dse_z"] == pytest.approx(diffusion_spectral_entropy(z, 10.0, 1))


# ----------------------------------------------------------------------------------------------
# The callback: one record per epoch (+ epoch 0) on a tiny model
# ----------------------------------------------------------------------------------------------


def test_callback_records_one_measurement_per_epoch():
    import lightning as L

    from subspacelab.lit import SupervisedModule
    from subspacelab.methods import apply_method

    g = torch.Generator().manual_seed(0)
    y = torch.arange(96) % 2
    x = torch.randn(96, 2, generator=g) + 3.0 * y[:, None].float()
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=False)
    probe = [(x[:48], y[:48]), (x[48:], y[48:])]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    module = SupervisedModule(apply_method("full", net), 2, optimizer={"name": "adam", "lr": 1e-2})
    cb = DiffusionEntropyCallback(probe, "net.module." + penultimate_layer(net), n_clusters=3, num_repetitions=2)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[cb])
    trainer.fit(module, train_dataloaders=train)
    assert [r["epoch"] for r in cb.records] == [0, 1, 2]
    for r in cb.records:
        for key in ("dse_z", "dsmi_zy", "dsmi_zx", "cse_z", "csmi_zy", "csmi_zx", "z_scale", "dse_z_fixed_scale",
                    "probe_acc"):
            assert math.isfinite(r[key]), key
    assert cb.records[0]["train_acc"] is None and 0.0 <= cb.records[-1]["train_acc"] <= 1.0
    assert cb.records[0]["dse_z_fixed_scale"] == pytest.approx(cb.records[0]["dse_z"])
    assert cb.x_clusters is not None and len(np.unique(cb.x_clusters)) == 3
    # the recorded representation is the ReLU output of the trained model on the probe set
    with torch.no_grad():
        z = net[1](net[0](x))
    assert cb.records[-1]["z_scale"] == pytest.approx(representation_scale(z), rel=1e-5)
    assert cb.records[-1]["probe_acc"] == pytest.approx(float((net(x).argmax(1) == y).float().mean()))


# ----------------------------------------------------------------------------------------------
# Experiment settings and rules
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [{"study": "nope"}, {"labels": "true"}, {"dataset": "svhn"}, {"sigma": 0.0},
                                 {"noise_levels": [-0.1]}, {"distributions": ["cauchy"]}, {"train_size": 0},
                                 {"epochs": 0}])
def test_experiment_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        P.Experiment(**bad)


def test_toy_run_and_rules_on_a_tiny_grid(tmp_path):
    e = P.Experiment(study="toy", n_points=40, ambient_dim=60, n_dims=4, noise_levels=[0.0, 0.01, 3.0],
                     toy_t_values=[1], repetitions=1)
    row = e.run(0, tmp_path, 1)
    assert (tmp_path / "trials.csv").is_file() and row["dse_spearman"]["uniform@0"] == pytest.approx(1.0)
    row["seed"] = 0
    measured, verdict, _ = P.RULES["dse_toy_monotone"]({"derive": {"min_rho": 0.9, "t": 1}}, [row])
    assert verdict in ("reproduced", "partly") and "uniform@0" in measured["value"]
    # noise 3.0 swamps a 60-dim cube: DSE moves by more than its range over k -> only 'partly' (0.01 passes)
    _, verdict, note = P.RULES["dse_toy_noise"]({"derive": {"max_rel_change": 0.25, "min_cse_saturation": 0.95}},
                                                [row])
    assert verdict == "partly" and "@3" in note
    assert P.RULES["dse_toy_noise"]({}, [])[1] == "not_run"


def _training_row(dataset, labels, seed, **vals):
    row = {"study": "training", "dataset": dataset, "labels": labels, "seed": seed}
    for m, (a, b) in vals.items():
        row[f"{m}_initial"], row[f"{m}_final"] = a, b
    return row


def test_training_rules_can_pass_and_fail():
    rows = [_training_row("mnist", "clean", 0, dse_z=(1.0, 3.0), dsmi_zy=(0.1, 1.5), dsmi_zx=(0.2, 0.9),
                          dse_z_fixed_scale=(1.0, 0.75)),
            _training_row("mnist", "random", 0, dse_z=(1.0, 1.2), dsmi_zy=(0.1, 0.05), dsmi_zx=(0.2, 0.1)),
            _training_row("mnist", "clean", 1, dse_z=(1.0, 2.0), dsmi_zy=(0.1, 1.2), dsmi_zx=(0.3, 0.2),
                          dse_z_fixed_scale=(1.0, 1.5)),
            _training_row("mnist", "random", 1, dse_z=(1.0, 0.8), dsmi_zy=(0.1, 1.0), dsmi_zx=(0.2, 0.1))]
    trend, labels = P.RULES["dse_training_trend"], P.RULES["dse_dsmi_labels"]
    assert trend({"derive": {"measure": "dse_z", "labels": "clean", "direction": "up"}}, rows)[1] == "reproduced"
    assert trend({"derive": {"measure": "dse_z", "labels": "clean", "direction": "down"}}, rows)[1] == "not_reproduced"
    measured, verdict, note = trend({"derive": {"measure": "dse_z", "control": "dse_z_fixed_scale"}}, rows)
    assert verdict == "reproduced" and "-0.250, +0.500" in note  # the control is reported, not judged
    assert measured["dse_z_fixed_scale_changes"]["mnist"] == pytest.approx([-0.25, 0.5])
    # DSMI(Z;X): up in seed 0, down in seed 1, mean up -> partly
    assert trend({"derive": {"measure": "dsmi_zx", "datasets": ["mnist"]}}, rows)[1] == "partly"
    assert trend({"derive": {"measure": "dsmi_zx", "datasets": ["cifar10"]}}, rows)[1] == "not_run"
    # seed 0: clean rises, random flat and far below -> ok; seed 1: random rises as much -> fails
    measured, verdict, note = labels({"derive": {"max_random_fraction": 0.5, "min_gap": 0.1}}, rows)
    assert verdict == "partly" and measured["checks"] == {"mnist/s0": True, "mnist/s1": False} and "s1" in note
    assert labels({}, rows[:2])[1] == "reproduced" and labels({}, rows[:1])[1] == "not_run"


def test_plots_draw_both_studies(tmp_path):
    toy_pts = [{"kind": "toy", "distribution": "uniform", "noise": n, "k": k, "t": 1, "reps": 1,
                "dse_mean": 0.1 * k + n, "dse_std": 0.0, "cse_mean": 5.0, "cse_std": 0.0}
               for n in (0.0, 0.1) for k in (1, 2, 3)]
    toy = {"study": "toy", "toy_t": 1, "n_points": 32, "ambient_dim": 3, "points": toy_pts}
    ep = [{"kind": "epoch", "epoch": e, "dse_z": 1.0 + e, "dse_z_fixed_scale": 1.0, "dsmi_zy": 0.1 * e,
           "dsmi_zx": 0.2, "cse_z": 5.0, "probe_acc": 0.5, "z_scale": 1.0 + e} for e in range(3)]
    train = _training_row("mnist", "clean", 0, dse_z=(1.0, 3.0))
    train["points"] = ep
    paths = P.plots([toy, train], tmp_path)
    assert [p.name for p in paths] == ["dse_toy.png", "dse_training.png"] and all(p.stat().st_size > 0 for p in paths)
