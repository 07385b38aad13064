"""DSE / DSMI (Liao, Liu et al., arXiv:2312.04823): diffusion spectral entropy as a noise-resilient measure of
intrinsic dimension (toy study) and of how a network's representation evolves during training (training study).

One run is one ``study``:

- ``toy``: points uniform (or Gaussian) on a k-dimensional coordinate subspace of R^D, the other D - k coordinates
  a constant, plus uniform noise of amplitude ``noise`` on all D coordinates (official
  ``src/manifold_investigation/toy_data_DSE.py`` / ``toy_data_entropy.py``); k swept over ``n_dims`` values up to
  D, every noise level, ``repetitions`` draws; DSE (for every t in ``toy_t_values``) against the binned classic
  Shannon entropy CSE of the same points.
- ``training``: a small network trained with the project's stack (VisionDataModule, build_model,
  SupervisedModule, ``lit.fit.fit`` placed by the run's trainer section) on clean (true) or randomly permuted
  labels; after every epoch (and before the first) ``DiffusionEntropyCallback`` records DSE(Z), DSMI(Z; Y), DSMI(Z; X) and the classic CSE/CSMI of the
  penultimate-layer output Z on a fixed probe set of test images (official
  ``src/main_studies/training_dynamic/01_train_embeddings.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from subspacelab.analysis.information import classic_shannon_entropy, diffusion_operator, spectral_entropy
from subspacelab.experiments.harness import map_trials, trial_seed, write_trials

STUDIES = ("toy", "training")
DISTRIBUTIONS = ("uniform", "gaussian")
LABELS = ("clean", "random")
DATASETS = ("mnist", "fashion_mnist", "cifar10")
ARCHS = ("mlp", "lenet", "convnet")


# ----------------------------------------------------------------------------------------------
# Toy data and the random-label wrapper
# ----------------------------------------------------------------------------------------------


def intrinsic_dims(ambient_dim: int, n_dims: int) -> list[int]:
    """The swept intrinsic dimensions: ``n_dims`` values evenly spaced from D / n_dims to D (official
    ``np.linspace(D // num_dim, D, num_dim, dtype=int)``), duplicates removed."""
    return sorted(
        {int(k) for k in np.linspace(max(ambient_dim // n_dims, 1), ambient_dim, n_dims).astype(int)}
    )


def toy_subspace_points(
    n: int, ambient_dim: int, k: int, distribution: str, rng: np.random.Generator
) -> np.ndarray:
    """n points of R^D whose first k coordinates are i.i.d. U(-1, 1) (``uniform``) or N(0, 1) (``gaussian``) and
    whose remaining D - k coordinates all equal one constant drawn from N(0, 1): a k-dimensional cube / Gaussian
    on an axis-aligned affine subspace, as in the official toy scripts (no noise; see ``add_uniform_noise``)."""
    if not 1 <= k <= ambient_dim:
        raise ValueError(f"need 1 <= k <= D, got k={k}, D={ambient_dim}")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {distribution!r}; use one of {DISTRIBUTIONS}")
    x = np.empty((n, ambient_dim))
    x[:, :k] = rng.uniform(-1.0, 1.0, (n, k)) if distribution == "uniform" else rng.standard_normal((n, k))
    x[:, k:] = rng.standard_normal()
    return x


def add_uniform_noise(x: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """x + level * U(-1, 1) on every coordinate (the official toy noise, ``noise_level * np.random.uniform``)."""
    return x + level * rng.uniform(-1.0, 1.0, x.shape) if level > 0 else x.copy()


class PermutedLabels(torch.utils.data.Dataset):
    """A training set whose labels are a fixed seeded permutation of its own labels (the paper's "wronglabel"
    runs: ``np.random.permutation(dataset.targets)``, every label reassigned, class frequencies kept).

    Wraps a dataset with a ``y`` tensor whose ``__getitem__(idx)`` returns ``(x, y)`` (e.g. the project's
    ``ImageBatches``, indexed by a list of indices); ``y`` here is the permuted label vector."""

    def __init__(self, base, seed: int):
        self.base = base
        perm = torch.randperm(len(base.y), generator=torch.Generator().manual_seed(int(seed)))
        self.y = base.y[perm].clone()

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, idx):
        x, _ = self.base[idx]
        return x, self.y[idx]


# ----------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------


@dataclass
class Experiment:
    """DSE experiment (Liao, Liu et al., arXiv:2312.04823): one study per run.
    toy:      DSE vs classic Shannon entropy on points of a k-dim subspace of R^D, k and noise swept inside the run
    training: DSE(Z), DSMI(Z;Y), DSMI(Z;X) of the penultimate layer on a fixed probe set, before training and
    after every epoch, clean or randomly permuted training labels
    DSE settings are the official api/dse.py defaults; the toy settings those of the official toy scripts.

    One study of the DSE paper: ``toy`` (DSE vs intrinsic dimension and noise) or ``training`` (DSE/DSMI of
    the penultimate layer along training). DSE settings default to the official ``api/dse.py``."""

    TAG: ClassVar[str] = "${.study}-${.dataset}-${.labels}"

    study: str = "toy"  # toy | training
    # DSE / DSMI (both studies)
    sigma: float = 10.0  # Gaussian kernel bandwidth, on raw representations
    t: int = 1  # diffusion time (the paper's later experiments use t = 1)
    # true drops the top eigenvalue 1 (an older api/dse.py); the paper-era code keeps it
    drop_trivial: bool = False
    num_bins_per_dim: int = 2  # classic Shannon entropy (CSE/CSMI) binning
    # toy study
    n_points: int = 500  # N
    ambient_dim: int = 2048  # D
    n_dims: int = 20  # number of intrinsic dimensions swept, evenly spaced up to ambient_dim
    noise_levels: list[float] = field(
        default_factory=lambda: [0.0, 0.01, 0.1, 0.5, 0.7]
    )  # amplitude of U(-1, 1) noise on every coordinate
    distributions: list[str] = field(default_factory=lambda: ["uniform", "gaussian"])
    toy_t_values: list[int] = field(
        default_factory=lambda: [1, 2, 3, 5]
    )  # DSE recorded at these diffusion times (claims use t)
    repetitions: int = 3
    # training study
    dataset: str = "mnist"  # mnist | fashion_mnist | cifar10 (offline: lossy JPEG stand-in)
    labels: str = "clean"  # clean (the dataset's labels) | random (a fixed seeded permutation of them)
    arch: str = "lenet"  # mlp | lenet | convnet (Z = input of the last linear layer)
    train_size: int | None = 10000  # training images (null: all 55,000 left after the validation cut)
    probe_size: int = 1000  # seeded random subset of the official test set, the same for every run
    epochs: int = 5
    batch_size: int = 256  # official 256
    optimizer: str = "adamw"  # official AdamW, lr 1e-3
    lr: float = 1e-3
    n_clusters: int = 10  # spectral clusters of the probe images (X) for DSMI(Z;X); 0 skips it
    num_repetitions: int = 5  # random subsets per class for DSE(Z*) in DSMI (official 5)
    data_root: str = "data/raw"

    def __post_init__(self):
        self.noise_levels = [float(v) for v in self.noise_levels]
        self.distributions = list(self.distributions)
        self.toy_t_values = [int(v) for v in self.toy_t_values]
        if self.study not in STUDIES:
            raise ValueError(f"study: {self.study!r} is not one of {list(STUDIES)}")
        if self.labels not in LABELS:
            raise ValueError(f"labels: {self.labels!r} is not one of {list(LABELS)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset: {self.dataset!r} is not one of {list(DATASETS)}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch: {self.arch!r} is not one of {list(ARCHS)}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer: {self.optimizer!r} is not one of ['adam', 'adamw', 'sgd']")
        bad = [d for d in self.distributions if d not in DISTRIBUTIONS]
        if bad or not self.distributions:
            raise ValueError(
                f"distributions: must be a non-empty subset of {list(DISTRIBUTIONS)} (got {self.distributions})"
            )
        if not self.noise_levels or any(v < 0 for v in self.noise_levels):
            raise ValueError("noise_levels: need at least one level, all >= 0")
        if not self.toy_t_values or any(v < 1 for v in self.toy_t_values):
            raise ValueError("toy_t_values: need at least one t, all >= 1")
        if self.train_size is not None and int(self.train_size) < 1:
            raise ValueError("train_size: must be >= 1 or null")
        for name in (
            "t",
            "num_bins_per_dim",
            "n_points",
            "ambient_dim",
            "n_dims",
            "repetitions",
            "probe_size",
            "epochs",
            "batch_size",
            "num_repetitions",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if self.n_points < 3:
            raise ValueError("n_points: must be >= 3")
        if self.n_clusters < 0:
            raise ValueError("n_clusters: must be >= 0 (0 skips DSMI(Z; X))")
        for name in ("sigma", "lr"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name}: must be > 0")

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        """``trainer``: the run's trainer section, where the training study trains (default one CPU process;
        under DDP the callback gathers the probe over ranks and rank 0 writes the trials)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        return (
            self._run_toy(int(seed), out_dir, n_jobs)
            if self.study == "toy"
            else self._run_training(int(seed), out_dir, trainer)
        )

    # -- toy -------------------------------------------------------------------------------------

    def _toy_task(self, task: tuple[int, int, str]) -> list[dict]:
        """All k and noise levels of one (repetition, distribution): the clean points of each k are shared by
        the noise levels, so the effect of noise is measured on the same points."""
        seed, rep, dist = task
        rng = np.random.default_rng(trial_seed(seed, "dse-toy", dist, rep))
        out = []
        for k in intrinsic_dims(self.ambient_dim, self.n_dims):
            clean = toy_subspace_points(self.n_points, self.ambient_dim, k, dist, rng)
            for noise in self.noise_levels:
                x = add_uniform_noise(clean, noise, rng)
                lam = torch.linalg.eigvalsh(diffusion_operator(x, self.sigma))
                rec = {
                    "rep": rep,
                    "distribution": dist,
                    "k": k,
                    "noise": noise,
                    "cse": classic_shannon_entropy(x, self.num_bins_per_dim),
                }
                for t in self.toy_t_values:
                    rec[f"dse_t{t}"] = spectral_entropy(lam, t, drop_trivial=self.drop_trivial)
                out.append(rec)
        return out

    def _run_toy(self, seed: int, out_dir: Path, n_jobs: int) -> dict:
        tasks = [(seed, rep, dist) for rep in range(self.repetitions) for dist in self.distributions]
        records = [r for res in map_trials(self._toy_task, tasks, n_jobs) for r in res]
        write_trials(out_dir / "trials.csv", records)
        points = []
        for dist in self.distributions:
            for noise in self.noise_levels:
                for k in intrinsic_dims(self.ambient_dim, self.n_dims):
                    rs = [
                        r
                        for r in records
                        if r["distribution"] == dist and r["noise"] == noise and r["k"] == k
                    ]
                    cse = np.array([r["cse"] for r in rs])
                    for t in self.toy_t_values:
                        dse = np.array([r[f"dse_t{t}"] for r in rs])
                        points.append(
                            {
                                "kind": "toy",
                                "distribution": dist,
                                "noise": noise,
                                "k": k,
                                "t": t,
                                "reps": len(rs),
                                "dse_mean": float(dse.mean()),
                                "dse_std": float(dse.std()),
                                "cse_mean": float(cse.mean()),
                                "cse_std": float(cse.std()),
                            }
                        )
        summary = toy_summary(points, self.t, self.n_points)
        return {
            "study": "toy",
            "n_points": self.n_points,
            "ambient_dim": self.ambient_dim,
            "max_entropy_bits": math.log2(self.n_points),
            **summary,
            "points": points,
        }

    # -- training --------------------------------------------------------------------------------

    def _run_training(self, seed: int, out_dir: Path, trainer=None) -> dict:
        from subspacelab.analysis.dse_callback import DiffusionEntropyCallback, penultimate_layer
        from subspacelab.data.vision import DATASETS as INFO
        from subspacelab.data.vision import VisionDataModule
        from subspacelab.lit import SupervisedModule
        from subspacelab.lit.fit import fit, is_global_zero, world_size
        from subspacelab.methods.full import full_space
        from subspacelab.models import build_model
        from subspacelab.models.vision import MLP, ConvNet, LeNet

        dm = VisionDataModule(
            name=self.dataset,
            root=self.data_root,
            batch_size=self.batch_size,
            eval_batch_size=min(self.probe_size, 1000),
            train_size=self.train_size,
            test_size=self.probe_size,
            split_seed=0,
            shuffle_seed=seed,
        )
        dm.prepare_data()
        dm.setup()
        if self.labels == "random":
            dm.train_set = PermutedLabels(dm.train_set, trial_seed(seed, "dse-random-labels"))
        info = INFO[self.dataset]
        builder = {"mlp": MLP, "lenet": LeNet, "convnet": ConvNet}[self.arch]
        backbone = build_model(builder, seed=seed, in_shape=info.in_shape, num_classes=info.num_classes)
        module = SupervisedModule(
            full_space(backbone),
            info.num_classes,
            optimizer={"name": self.optimizer, "lr": self.lr},
        )
        layer = "net.module." + penultimate_layer(backbone)
        callback = DiffusionEntropyCallback(
            dm.test_dataloader(),
            layer,
            sigma=self.sigma,
            t=self.t,
            drop_trivial=self.drop_trivial,
            num_repetitions=self.num_repetitions,
            num_bins_per_dim=self.num_bins_per_dim,
            n_clusters=self.n_clusters,
            cluster_seed=0,
            seed=0,
        )
        fit(
            module,
            dm,
            trainer=trainer,
            seed=seed,
            callbacks=[callback],
            max_epochs=self.epochs,
            limit_val_batches=0,
            default_root_dir=str(out_dir),
        )
        recs = callback.records
        if is_global_zero():
            write_trials(out_dir / "trials.csv", recs)
        first, last = recs[0], recs[-1]
        points = [{"kind": "epoch", "dataset": self.dataset, "labels": self.labels, **r} for r in recs]
        summary = {
            "study": "training",
            "dataset": self.dataset,
            "labels": self.labels,
            "arch": self.arch,
            "layer": layer,
            "epochs": self.epochs,
            "data_exact": bool(dm.provenance.get("exact", True)),
            "data_note": dm.provenance.get("note", ""),
            "world_size": world_size(),
        }
        for m in (
            "dse_z",
            "dse_z_fixed_scale",
            "dsmi_zy",
            "dsmi_zx",
            "cse_z",
            "csmi_zy",
            "csmi_zx",
            "z_scale",
            "probe_acc",
        ):
            if m in last:
                summary[f"{m}_initial"], summary[f"{m}_final"] = first[m], last[m]
        summary["train_acc_final"] = last.get("train_acc")
        summary["measure_seconds"] = float(sum(r["seconds"] for r in recs))
        summary["z_dim"] = _layer_width(backbone)
        return {**summary, "points": points}


def _layer_width(backbone) -> int:
    """Width of the penultimate layer = in_features of the last nn.Linear."""
    lin = [m for m in backbone.modules() if isinstance(m, torch.nn.Linear)]
    return int(lin[-1].in_features)


# ----------------------------------------------------------------------------------------------
# Toy summaries (used by run and by the rules)
# ----------------------------------------------------------------------------------------------


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    if len(x) < 2 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def toy_curves(points: list[dict], t: int) -> dict[tuple[str, float], dict]:
    """Per (distribution, noise): sorted k, mean DSE (at diffusion time t) and mean CSE over k."""
    out = {}
    for p in points:
        if p.get("kind") != "toy" or p["t"] != t:
            continue
        c = out.setdefault((p["distribution"], float(p["noise"])), {"k": [], "dse": [], "cse": []})
        c["k"].append(p["k"])
        c["dse"].append(p["dse_mean"])
        c["cse"].append(p["cse_mean"])
    for c in out.values():
        order = np.argsort(c["k"])
        for key in ("k", "dse", "cse"):
            c[key] = np.asarray(c[key], dtype=float)[order]
    return out


def toy_summary(points: list[dict], t: int, n_points: int) -> dict:
    """Spearman rho(k, DSE) per (distribution, noise); DSE's noise-induced change relative to its range over k
    at the lowest noise; CSE's saturation (its smallest value over k as a fraction of log2 N) per noise; the
    smallest k at which DSE comes within 0.05 bits of its ceiling log2 N (None if it never does)."""
    curves = toy_curves(points, t)
    rho, rel, sat, cse_rho, dse_sat_k = {}, {}, {}, {}, {}
    ceiling = math.log2(n_points) - 0.05
    for dist in sorted({d for d, _ in curves}):
        levels = sorted(n for d, n in curves if d == dist)
        ref = curves[(dist, levels[0])]
        span = float(np.ptp(ref["dse"])) if len(ref["dse"]) else float("nan")
        for noise in levels:
            c = curves[(dist, noise)]
            key = f"{dist}@{noise:g}"
            rho[key] = _spearman(c["k"], c["dse"])
            cse_rho[key] = _spearman(c["k"], c["cse"])
            rel[key] = float(np.max(np.abs(c["dse"] - ref["dse"])) / span) if span > 0 else float("nan")
            sat[key] = float(np.min(c["cse"]) / math.log2(n_points))
            near = [int(k) for k, d in zip(c["k"], c["dse"], strict=True) if d >= ceiling]
            dse_sat_k[key] = near[0] if near else None
    return {
        "toy_t": t,
        "dse_spearman": rho,
        "cse_spearman": cse_rho,
        "dse_noise_rel_change": rel,
        "cse_saturation": sat,
        "dse_saturation_k": dse_sat_k,
    }
