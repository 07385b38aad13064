"""The DSE paper (subspacelab.papers.dse) and the DSE/DSMI training callback (subspacelab.analysis.dse_callback):
toy generators, the random-label wrapper, the per-epoch callback, the measures on known cases, and the rules on
hand-made rows."""

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
from subspacelab.models.vision import MLP, ConvNet, LeNet
from subspacelab.papers.dse import claims as C
from subspacelab.papers.dse import experiment as P
from subspacelab.papers.dse import figures as F
from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED

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
    dse = [
        diffusion_spectral_entropy(P.toy_subspace_points(n, 400, k, "uniform", rng), 10.0, 1)
        for k in (20, 80, 200, 400)
    ]
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
    assert penultimate_layer(build_model(LeNet, seed=0)) == "classifier.4"
    assert penultimate_layer(build_model(MLP, seed=0, width=16, depth=2)) == "net.4"
    assert penultimate_layer(build_model(ConvNet, seed=0, channels=4, hidden=8)) == "classifier.2"
    with pytest.raises(ValueError):
        penultimate_layer(nn.Sequential(nn.Linear(2, 2)))


def test_representation_scale_closed_form():
    z = np.array(
        [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]
    )  # centre (1, 1), every point at distance sqrt 2
    assert representation_scale(z) == pytest.approx(math.sqrt(2.0))
    assert representation_scale(torch.tensor(z) * 3.0) == pytest.approx(3.0 * math.sqrt(2.0))


def test_dsmi_with_labels_is_large_for_separated_classes_and_small_for_shuffled_ones():
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(4), 40)
    centres = rng.normal(0.0, 15.0, (4, 8))
    z = centres[y] + rng.normal(0.0, 1.0, (160, 8))
    m = representation_measures(z, y, x_clusters=y, classic=True, num_repetitions=3)
    shuffled = representation_measures(
        z, rng.permutation(y), x_clusters=None, classic=False, num_repetitions=3
    )
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
    from subspacelab.methods.full import full_space

    g = torch.Generator().manual_seed(0)
    y = torch.arange(96) % 2
    x = torch.randn(96, 2, generator=g) + 3.0 * y[:, None].float()
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=False)
    probe = [(x[:48], y[:48]), (x[48:], y[48:])]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    module = SupervisedModule(full_space(net), 2, optimizer={"name": "adam", "lr": 1e-2})
    cb = DiffusionEntropyCallback(
        probe, "net.module." + penultimate_layer(net), n_clusters=3, num_repetitions=2
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[cb],
    )
    trainer.fit(module, train_dataloaders=train)
    assert [r["epoch"] for r in cb.records] == [0, 1, 2]
    for r in cb.records:
        for key in (
            "dse_z",
            "dsmi_zy",
            "dsmi_zx",
            "cse_z",
            "csmi_zy",
            "csmi_zx",
            "z_scale",
            "dse_z_fixed_scale",
            "probe_acc",
        ):
            assert math.isfinite(r[key]), key
    assert cb.records[0]["train_acc"] is None and 0.0 <= cb.records[-1]["train_acc"] <= 1.0
    assert cb.records[0]["dse_z_fixed_scale"] == pytest.approx(cb.records[0]["dse_z"])
    assert cb.x_clusters is not None and len(np.unique(cb.x_clusters)) == 3
    # the recorded representation is the ReLU output of the trained model on the probe set
    with torch.no_grad():
        z = net[1](net[0](x))
    assert cb.records[-1]["z_scale"] == pytest.approx(representation_scale(z), rel=1e-5)
    assert cb.records[-1]["probe_acc"] == pytest.approx(float((net(x).argmax(1) == y).float().mean()))


DDP_SCRIPT = """
import json, sys
import torch
from torch import nn
from subspacelab.analysis.dse_callback import DiffusionEntropyCallback, penultimate_layer
from subspacelab.lit import SupervisedModule
from subspacelab.lit.batches import EpochShuffle, TensorData
from subspacelab.lit.fit import fit, is_global_zero
from subspacelab.methods.full import full_space

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
y = torch.arange(96) % 2
x = torch.randn(96, 2, generator=g) + 3.0 * y[:, None].float()
probe = [(x[:40], y[:40]), (x[40:80], y[40:80]), (x[80:], y[80:])]  # 96 rows: 48 per rank
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))  # no BatchNorm: its batch statistics are per rank
module = SupervisedModule(full_space(net), 2, optimizer={"name": "sgd", "lr": 0.05})
cb = DiffusionEntropyCallback(probe, "net.module." + penultimate_layer(net), n_clusters=3, num_repetitions=2)
data = TensorData(x, y, sampler=lambda n, world, rank: EpochShuffle(n, 32, 0, world, rank))
devices = int(sys.argv[2])
fit(module, data, trainer={"accelerator": "cpu", "devices": devices, "strategy": "ddp" if devices > 1 else "auto"},
    seed=0, callbacks=[cb], max_epochs=2)
if is_global_zero():
    json.dump(cb.records, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
@pytest.mark.ddp
def test_callback_measures_the_same_on_two_ddp_processes_as_on_one(tmp_path):
    """Each rank embeds its half of the probe rows and the callback gathers them: the records of 2 gloo processes
    (each with half of every global batch, DDP averaging the gradients) equal those of one process."""
    import json
    import subprocess
    import sys

    script = tmp_path / "ddp_dse.py"
    script.write_text(DDP_SCRIPT)
    records = {}
    for devices in (1, 2):
        out_file = tmp_path / f"records{devices}.json"
        out = subprocess.run(
            [sys.executable, str(script), str(out_file), str(devices)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        records[devices] = json.loads(out_file.read_text())
    one, two = records[1], records[2]
    assert [r["epoch"] for r in one] == [r["epoch"] for r in two] == [0, 1, 2]
    for a, b in zip(one, two, strict=True):
        for key in ("dse_z", "dsmi_zy", "dsmi_zx", "cse_z", "z_scale", "dse_z_fixed_scale", "probe_acc"):
            assert b[key] == pytest.approx(a[key], rel=1e-6, abs=1e-9), (a["epoch"], key)
    assert one[0]["dse_z"] == two[0]["dse_z"]  # before any update: the same network, the same rows
    assert one[-1]["z_scale"] != one[0]["z_scale"]  # and training moved the representation


# ----------------------------------------------------------------------------------------------
# Experiment settings and rules
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"study": "nope"},
        {"labels": "true"},
        {"dataset": "svhn"},
        {"sigma": 0.0},
        {"noise_levels": [-0.1]},
        {"distributions": ["cauchy"]},
        {"train_size": 0},
        {"epochs": 0},
    ],
)
def test_experiment_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        P.Experiment(**bad)


def test_toy_run_and_rules_on_a_tiny_grid(tmp_path):
    e = P.Experiment(
        study="toy",
        n_points=40,
        ambient_dim=60,
        n_dims=4,
        noise_levels=[0.0, 0.01, 3.0],
        toy_t_values=[1],
        repetitions=1,
    )
    row = e.run(0, tmp_path, 1)
    assert (tmp_path / "trials.csv").is_file() and row["dse_spearman"]["uniform@0"] == pytest.approx(1.0)
    row["seed"] = 0
    measured, verdict, _ = C.RULES["dse_toy_monotone"]({"derive": {"min_rho": 0.9, "t": 1}}, [row])
    assert verdict == (REPRODUCED if all(v >= 0.9 for v in measured["dse_spearman"].values()) else PARTLY)
    assert "uniform@0" in measured["value"]
    # noise 3.0 swamps a 60-dim cube: DSE moves by more than its range over k -> only 'partly' (0.01 passes)
    _, verdict, note = C.RULES["dse_toy_noise"]({"derive": {"max_rel_change": 0.25}}, [row])
    assert verdict == PARTLY and "@3" in note and "@0.01" not in note
    assert C.RULES["dse_toy_noise"]({}, [])[1] == NOT_RUN
    # 2 bins x 60 coordinates, k >= 15 > log2 40: binned entropy is log2 N at every k and noise (by construction)
    measured, verdict, _ = C.RULES["dse_cse_saturation"]({"derive": {"min_cse_saturation": 0.95}}, [row])
    assert verdict == REPRODUCED and min(measured["cse_saturation"].values()) == pytest.approx(1.0)


def _toy_row(sat: dict[str, float]) -> dict:
    """A toy row whose CSE at every k is ``sat[dist@noise] * log2 N`` (DSE irrelevant here)."""
    n_points = 16
    pts = [
        {
            "kind": "toy",
            "distribution": key.split("@")[0],
            "noise": float(key.split("@")[1]),
            "k": k,
            "t": 1,
            "dse_mean": float(k),
            "cse_mean": frac * math.log2(n_points),
        }
        for key, frac in sat.items()
        for k in (1, 2)
    ]
    return {"study": "toy", "n_points": n_points, "points": pts}


def test_cse_saturation_rule_on_closed_form_rows():
    rule = C.RULES["dse_cse_saturation"]
    assert rule({}, [_toy_row({"uniform@0": 1.0, "uniform@0.1": 0.97})])[1] == REPRODUCED
    measured, verdict, note = rule({}, [_toy_row({"uniform@0": 0.5, "uniform@0.1": 1.0})])
    assert (
        verdict == PARTLY
        and "uniform@0" in note
        and measured["cse_saturation"]["uniform@0"] == pytest.approx(0.5)
    )
    assert rule({}, [_toy_row({"uniform@0": 0.5, "uniform@0.1": 0.6})])[1] == NOT


def _training_row(dataset, labels, seed, **vals):
    row = {"study": "training", "dataset": dataset, "labels": labels, "seed": seed}
    for m, (a, b) in vals.items():
        row[f"{m}_initial"], row[f"{m}_final"] = a, b
    return row


def test_trend_rule_needs_the_seed_interval_to_exclude_zero():
    trend = C.RULES["dse_training_trend"]
    up = {"derive": {"measure": "dse_z", "labels": "clean", "direction": "up"}}
    # changes +2.0 and +2.1: mean 2.05, sd 0.0707, 95% t half-width 12.71 * 0.0707 / sqrt 2 = 0.635 -> [1.41, 2.69]
    tight = [_training_row("mnist", "clean", s, dse_z=(1.0, 3.0 + 0.1 * s)) for s in (0, 1)]
    measured, verdict, _ = trend(up, tight)
    assert verdict == REPRODUCED and measured["n"] == 2
    assert measured["interval"]["lo"] == pytest.approx(2.05 - 12.7062 * 0.070711 / math.sqrt(2), abs=1e-3)
    assert "n=2" in measured["value"]
    # changes +2 and +0.1: both up but the interval [-11.0, 13.1] includes 0 -> partly
    wide = [
        _training_row("mnist", "clean", 0, dse_z=(1.0, 3.0)),
        _training_row("mnist", "clean", 1, dse_z=(1.0, 1.1)),
    ]
    measured, verdict, note = trend(up, wide)
    assert verdict == PARTLY and measured["interval"]["lo"] < 0 and "includes 0" in note
    # one run: at most partly however large the change
    assert trend(up, tight[:1])[1] == PARTLY
    # the claimed direction is down: both runs go up -> not reproduced; unknown dataset -> not run
    assert trend({"derive": {"measure": "dse_z", "direction": "down"}}, tight)[1] == NOT
    assert trend({"derive": {"measure": "dse_z", "datasets": ["cifar10"]}}, tight)[1] == NOT_RUN


def test_trend_rule_with_a_control_takes_the_worse_verdict():
    trend = C.RULES["dse_training_trend"]
    claim = {
        "derive": {"measure": "dse_z", "labels": "clean", "direction": "up", "control": "dse_z_fixed_scale"}
    }
    # the raw measure rises tightly in both runs; the scale-controlled one falls in both -> not reproduced
    rows = [
        _training_row(
            "mnist", "clean", s, dse_z=(1.0, 3.0 + 0.1 * s), dse_z_fixed_scale=(1.0, 0.97 - 0.01 * s)
        )
        for s in (0, 1)
    ]
    measured, verdict, note = trend(claim, rows)
    assert verdict == NOT and measured["raw_verdict"] == REPRODUCED and measured["control_verdict"] == NOT
    assert measured["dse_z_fixed_scale_changes"]["mnist"] == pytest.approx([-0.03, -0.04])
    assert "does not survive the control" in note and "dse_z_fixed_scale" in measured["value"]
    # the control rises as tightly as the raw measure -> reproduced
    both = [
        _training_row("mnist", "clean", s, dse_z=(1.0, 3.0 + 0.1 * s), dse_z_fixed_scale=(1.0, 2.0 + 0.1 * s))
        for s in (0, 1)
    ]
    assert trend(claim, both)[1] == REPRODUCED
    # control up in one run, down in the other: partly, and the verdict is that partly
    mixed = [
        _training_row("mnist", "clean", 0, dse_z=(1.0, 3.0), dse_z_fixed_scale=(1.0, 0.75)),
        _training_row("mnist", "clean", 1, dse_z=(1.0, 3.1), dse_z_fixed_scale=(1.0, 1.5)),
    ]
    measured, verdict, _ = trend(claim, mixed)
    assert verdict == PARTLY and measured["dse_z_fixed_scale_changes"]["mnist"] == pytest.approx([-0.25, 0.5])


def test_dsmi_labels_rule_checks_every_pair_and_the_interval_over_pairs():
    labels = C.RULES["dse_dsmi_labels"]
    claim = {"derive": {"max_random_fraction": 0.5, "min_gap": 0.1}}

    def pair(seed, clean, random):
        return [
            _training_row("mnist", "clean", seed, dsmi_zy=clean),
            _training_row("mnist", "random", seed, dsmi_zy=random),
        ]

    # two pairs, clean rises by 1.4 / 1.5, random flat: both intervals over n=2 pairs exclude 0 -> reproduced
    good = pair(0, (0.1, 1.5), (0.1, 0.12)) + pair(1, (0.1, 1.6), (0.1, 0.1))
    measured, verdict, note = labels(claim, good)
    assert verdict == REPRODUCED and measured["n"] == 2 and note == ""
    assert measured["difference_interval"]["lo"] > 0 and measured["rise_interval"]["lo"] > 0
    # every pair passes, but the rises (1.4 and 0.2) are too far apart for n=2: the interval includes 0 -> partly
    spread = pair(0, (0.1, 1.5), (0.1, 0.1)) + pair(1, (0.1, 0.3), (0.1, 0.1))
    measured, verdict, note = labels(claim, spread)
    assert verdict == PARTLY and measured["rise_interval"]["lo"] < 0 and "includes 0" in note
    # seed 1: random rises as much as clean -> that pair fails -> partly (half the pairs)
    half = pair(0, (0.1, 1.5), (0.1, 0.05)) + pair(1, (0.1, 1.2), (0.1, 1.0))
    measured, verdict, note = labels(claim, half)
    assert verdict == PARTLY and measured["checks"] == {"mnist/s0": True, "mnist/s1": False} and "s1" in note
    # one pair: at most partly; no random-label run: not run
    assert labels(claim, good[:2])[1] == PARTLY and labels(claim, good[:1])[1] == NOT_RUN


def test_plots_draw_both_studies(tmp_path):
    toy_pts = [
        {
            "kind": "toy",
            "distribution": "uniform",
            "noise": n,
            "k": k,
            "t": 1,
            "reps": 1,
            "dse_mean": 0.1 * k + n,
            "dse_std": 0.0,
            "cse_mean": 5.0,
            "cse_std": 0.0,
        }
        for n in (0.0, 0.1)
        for k in (1, 2, 3)
    ]
    toy = {"study": "toy", "toy_t": 1, "n_points": 32, "ambient_dim": 3, "points": toy_pts}
    ep = [
        {
            "kind": "epoch",
            "epoch": e,
            "dse_z": 1.0 + e,
            "dse_z_fixed_scale": 1.0,
            "dsmi_zy": 0.1 * e,
            "dsmi_zx": 0.2,
            "cse_z": 5.0,
            "probe_acc": 0.5,
            "z_scale": 1.0 + e,
        }
        for e in range(3)
    ]
    train = _training_row("mnist", "clean", 0, dse_z=(1.0, 3.0))
    train["points"] = ep
    paths = F.figures([toy, train], tmp_path)
    assert [p.name for p in paths] == ["dse_toy.png", "dse_training.png"] and all(
        p.stat().st_size > 0 for p in paths
    )
