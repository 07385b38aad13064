"""DSE / DSMI (Liao, Liu et al., arXiv:2312.04823): diffusion spectral entropy as a noise-resilient measure of
intrinsic dimension (toy study) and of how a network's representation evolves during training (training study).

One run is one ``study``:

- ``toy``: points uniform (or Gaussian) on a k-dimensional coordinate subspace of R^D, the other D - k coordinates
  a constant, plus uniform noise of amplitude ``noise`` on all D coordinates (official
  ``src/manifold_investigation/toy_data_DSE.py`` / ``toy_data_entropy.py``); k swept over ``n_dims`` values up to
  D, every noise level, ``repetitions`` draws; DSE (for every t in ``toy_t_values``) against the binned classic
  Shannon entropy CSE of the same points.
- ``training``: a small network trained with the project's stack (VisionDataModule, build_model,
  SupervisedModule, lightning.Trainer) on clean (true) or randomly permuted labels; after every epoch (and before the
  first) ``DiffusionEntropyCallback`` records DSE(Z), DSMI(Z; Y), DSMI(Z; X) and the classic CSE/CSMI of the
  penultimate-layer output Z on a fixed probe set of test images (official
  ``src/main_studies/training_dynamic/01_train_embeddings.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

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
    return sorted({int(k) for k in np.linspace(max(ambient_dim // n_dims, 1), ambient_dim, n_dims).astype(int)})


def toy_subspace_points(n: int, ambient_dim: int, k: int, distribution: str, rng: np.random.Generator) -> np.ndarray:
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
    """One study of the DSE paper: ``toy`` (DSE vs intrinsic dimension and noise) or ``training`` (DSE/DSMI of
    the penultimate layer along training). DSE settings default to the official ``api/dse.py``."""

    study: str = "toy"
    # DSE / DSMI settings (both studies)
    sigma: float = 10.0  # Gaussian kernel bandwidth (official default 10)
    t: int = 1  # diffusion time (the paper's later experiments use t = 1)
    drop_trivial: bool = False  # keep the top eigenvalue 1 (official api/dse.py and dse/dse.py at the paper's time)
    num_bins_per_dim: int = 2  # CSE / CSMI binning (official default 2)
    # toy study
    n_points: int = 500
    ambient_dim: int = 2048
    n_dims: int = 20  # number of intrinsic dimensions swept, evenly spaced up to ambient_dim
    noise_levels: list[float] = field(default_factory=lambda: [0.0, 0.01, 0.1, 0.5, 0.7])
    distributions: list[str] = field(default_factory=lambda: ["uniform", "gaussian"])
    toy_t_values: list[int] = field(default_factory=lambda: [1, 2, 3, 5])
    repetitions: int = 3
    # training study
    dataset: str = "mnist"
    labels: str = "clean"  # clean (the dataset's labels) | random (a fixed seeded permutation of them)
    arch: str = "lenet"
    train_size: int | None = 10000  # training images (null: all 55,000 left after the validation cut)
    probe_size: int = 1000  # seeded random subset of the official test set, the same for every run
    epochs: int = 5
    batch_size: int = 256  # official 256
    optimizer: str = "adamw"  # official AdamW, lr 1e-3
    lr: float = 1e-3
    n_clusters: int = 10  # spectral clusters of the probe images for DSMI(Z; X) (official 10)
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
            raise ValueError(f"distributions: must be a non-empty subset of {list(DISTRIBUTIONS)} (got {self.distributions})")
        if not self.noise_levels or any(v < 0 for v in self.noise_levels):
            raise ValueError("noise_levels: need at least one level, all >= 0")
        if not self.toy_t_values or any(v < 1 for v in self.toy_t_values):
            raise ValueError("toy_t_values: need at least one t, all >= 1")
        if self.train_size is not None and int(self.train_size) < 1:
            raise ValueError("train_size: must be >= 1 or null")
        for name in ("t", "num_bins_per_dim", "n_points", "ambient_dim", "n_dims", "repetitions", "probe_size", "epochs", "batch_size", "num_repetitions"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if self.n_points < 3:
            raise ValueError("n_points: must be >= 3")
        if self.n_clusters < 0:
            raise ValueError("n_clusters: must be >= 0 (0 skips DSMI(Z; X))")
        for name in ("sigma", "lr"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name}: must be > 0")

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1) -> dict:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        return self._run_toy(int(seed), out_dir, n_jobs) if self.study == "toy" else self._run_training(int(seed), out_dir)

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
                rec = {"rep": rep, "distribution": dist, "k": k, "noise": noise,
                       "cse": classic_shannon_entropy(x, self.num_bins_per_dim)}
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
                    rs = [r for r in records if r["distribution"] == dist and r["noise"] == noise and r["k"] == k]
                    cse = np.array([r["cse"] for r in rs])
                    for t in self.toy_t_values:
                        dse = np.array([r[f"dse_t{t}"] for r in rs])
                        points.append({"kind": "toy", "distribution": dist, "noise": noise, "k": k, "t": t,
                                       "reps": len(rs), "dse_mean": float(dse.mean()), "dse_std": float(dse.std()),
                                       "cse_mean": float(cse.mean()), "cse_std": float(cse.std())})
        summary = toy_summary(points, self.t, self.n_points)
        return {"study": "toy", "n_points": self.n_points, "ambient_dim": self.ambient_dim,
                "max_entropy_bits": math.log2(self.n_points), **summary, "points": points}

    # -- training --------------------------------------------------------------------------------

    def _run_training(self, seed: int, out_dir: Path) -> dict:
        import lightning as L

        from subspacelab.analysis.dse_callback import DiffusionEntropyCallback, penultimate_layer
        from subspacelab.data.vision import DATASETS as INFO
        from subspacelab.data.vision import VisionDataModule
        from subspacelab.lit import SupervisedModule
        from subspacelab.methods import apply_method
        from subspacelab.models import build_model

        dm = VisionDataModule(name=self.dataset, root=self.data_root, batch_size=self.batch_size,
                              eval_batch_size=min(self.probe_size, 1000), train_size=self.train_size,
                              test_size=self.probe_size, split_seed=0, shuffle_seed=seed)
        dm.prepare_data()
        dm.setup()
        if self.labels == "random":
            dm.train_set = PermutedLabels(dm.train_set, trial_seed(seed, "dse-random-labels"))
        info = INFO[self.dataset]
        backbone = build_model(self.arch, seed=seed, in_shape=info.in_shape, num_classes=info.num_classes)
        module = SupervisedModule(apply_method("full", backbone), info.num_classes,
                                  optimizer={"name": self.optimizer, "lr": self.lr})
        layer = "net.module." + penultimate_layer(backbone)
        callback = DiffusionEntropyCallback(
            dm.test_dataloader(), layer, sigma=self.sigma, t=self.t, drop_trivial=self.drop_trivial,
            num_repetitions=self.num_repetitions, num_bins_per_dim=self.num_bins_per_dim,
            n_clusters=self.n_clusters, cluster_seed=0, seed=0)
        trainer = L.Trainer(accelerator="auto", devices=1, max_epochs=self.epochs, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            limit_val_batches=0, num_sanity_val_steps=0, callbacks=[callback],
                            default_root_dir=str(out_dir))
        L.seed_everything(seed, verbose=False)
        trainer.fit(module, datamodule=dm)
        recs = callback.records
        write_trials(out_dir / "trials.csv", recs)
        first, last = recs[0], recs[-1]
        points = [{"kind": "epoch", "dataset": self.dataset, "labels": self.labels, **r} for r in recs]
        summary = {"study": "training", "dataset": self.dataset, "labels": self.labels, "arch": self.arch,
                   "layer": layer, "epochs": self.epochs,
                   "data_exact": bool(dm.provenance.get("exact", True)), "data_note": dm.provenance.get("note", "")}
        for m in ("dse_z", "dse_z_fixed_scale", "dsmi_zy", "dsmi_zx", "cse_z", "csmi_zy", "csmi_zx", "z_scale",
                  "probe_acc"):
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
    return {"toy_t": t, "dse_spearman": rho, "cse_spearman": cse_rho, "dse_noise_rel_change": rel,
            "cse_saturation": sat, "dse_saturation_k": dse_sat_k}


# ----------------------------------------------------------------------------------------------
# Derive rules
# ----------------------------------------------------------------------------------------------


def _param(claim: dict, key: str, default=None):
    dv = claim.get("derive") or {}
    return dv[key] if key in dv else claim.get(key, default)


def _toy_rows(rows):
    return [r for r in rows if r.get("study") == "toy"]


def _training_rows(rows, labels: str | None = None, dataset: str | None = None):
    return [r for r in rows if r.get("study") == "training" and (labels is None or r.get("labels") == labels)
            and (dataset is None or r.get("dataset") == dataset)]


def _toy_stats(rows, t):
    """toy_summary over the pooled points of all toy runs (seeds averaged point by point)."""
    pts: dict[tuple, list] = {}
    n_points = None
    for row in _toy_rows(rows):
        n_points = row.get("n_points", n_points)
        for p in row["points"]:
            if p.get("kind") == "toy":
                pts.setdefault((p["distribution"], p["noise"], p["k"], p["t"]), []).append(p)
    pooled = [{"kind": "toy", "distribution": d, "noise": n, "k": k, "t": tt,
               "dse_mean": float(np.mean([p["dse_mean"] for p in ps])),
               "cse_mean": float(np.mean([p["cse_mean"] for p in ps]))} for (d, n, k, tt), ps in pts.items()]
    return toy_summary(pooled, t, n_points or 2) if pooled else None


def rule_toy_monotone(claim: dict, rows: list[dict]):
    """Spearman rho between intrinsic dimension k and mean DSE, per (distribution, noise level). Reproduced if
    rho >= ``min_rho`` for every curve; partly if it holds at the lowest noise level of every distribution."""
    t = int(_param(claim, "t", 1))
    stats = _toy_stats(rows, t)
    if stats is None:
        return {"value": "no toy runs"}, "not_run", ""
    thr = float(_param(claim, "min_rho", 0.9))
    rho = stats["dse_spearman"]
    low = {}
    for key in rho:
        dist, noise = key.split("@")
        if dist not in low or float(noise) < float(low[dist].split("@")[1]):
            low[dist] = key
    value = "Spearman rho(k, DSE): " + ", ".join(f"{k} {v:.3f}" for k, v in rho.items())
    value += "; CSE: " + ", ".join(f"{k} {v:.2f}" for k, v in stats["cse_spearman"].items())
    ok = [v >= thr for v in rho.values() if math.isfinite(v)]
    if ok and all(ok) and len(ok) == len(rho):
        verdict = "reproduced"
    elif all(math.isfinite(rho[k]) and rho[k] >= thr for k in low.values()):
        verdict = "partly"
    else:
        verdict = "not_reproduced"
    bad = [k for k, v in rho.items() if not (math.isfinite(v) and v >= thr)]
    sat_k = stats["dse_saturation_k"]
    note = "DSE within 0.05 bits of log2 N from k = " + ", ".join(f"{k} {v}" for k, v in sat_k.items() if v)
    if bad:
        note = f"rho < {thr} at: {', '.join(bad)}; " + note
    return ({"value": value, "dse_spearman": rho, "cse_spearman": stats["cse_spearman"],
             "dse_saturation_k": sat_k}, verdict, note)


def rule_toy_noise(claim: dict, rows: list[dict]):
    """Noise resistance. For every noise level: DSE's largest change over k from its lowest-noise curve, relative
    to that curve's range over k (``dse_noise_rel_change``), and CSE's saturation (its minimum over k divided by
    log2 N). Reproduced if at every noise level above the lowest, rel change <= ``max_rel_change`` and CSE
    saturation >= ``min_cse_saturation``; partly if both hold at some noise level; else not reproduced."""
    t = int(_param(claim, "t", 1))
    stats = _toy_stats(rows, t)
    if stats is None:
        return {"value": "no toy runs"}, "not_run", ""
    max_rel = float(_param(claim, "max_rel_change", 0.25))
    min_sat = float(_param(claim, "min_cse_saturation", 0.95))
    rel, sat = stats["dse_noise_rel_change"], stats["cse_saturation"]
    lowest = {}
    for key in rel:
        dist, noise = key.split("@")
        lowest[dist] = min(float(noise), lowest.get(dist, math.inf))
    noisy = [k for k in rel if float(k.split("@")[1]) > lowest[k.split("@")[0]]]
    if not noisy:
        return {"value": "only one noise level"}, "not_run", ""
    passes = {k: bool(rel[k] <= max_rel and sat[k] >= min_sat) for k in noisy}
    value = ("DSE change / DSE range over k: " + ", ".join(f"{k} {rel[k]:.2f}" for k in noisy)
             + "; CSE min over k / log2 N: " + ", ".join(f"{k} {sat[k]:.2f}" for k in rel))
    verdict = "reproduced" if all(passes.values()) else ("partly" if any(passes.values()) else "not_reproduced")
    failing = [k for k, ok in passes.items() if not ok]
    return ({"value": value, "dse_noise_rel_change": rel, "cse_saturation": sat, "passes": passes}, verdict,
            "" if not failing else f"fails at: {', '.join(failing)}")


def _change(row, measure):
    a, b = row.get(f"{measure}_initial"), row.get(f"{measure}_final")
    return (b - a) if a is not None and b is not None else float("nan")


def rule_training_rises(claim: dict, rows: list[dict]):
    """``measure`` (final minus epoch-0 value) in every run with ``labels`` (and ``dataset`` if given):
    ``direction: up`` reproduced if the change is > 0 in every run, partly if in at least half, or if the
    seed-mean change has the sign; ``direction: down`` the same with < 0."""
    measure = _param(claim, "measure", "dse_z")
    labels = _param(claim, "labels", "clean")
    datasets = _param(claim, "datasets", None)
    sign = 1.0 if _param(claim, "direction", "up") == "up" else -1.0
    rs = [r for r in _training_rows(rows, labels) if datasets is None or r.get("dataset") in datasets]
    if not rs:
        return {"value": "no training runs"}, "not_run", ""
    by_ds: dict[str, list] = {}
    for r in rs:
        by_ds.setdefault(r["dataset"], []).append(r)
    parts, ok, changes = [], [], {}
    for ds, rr in sorted(by_ds.items()):
        ch = [_change(r, measure) for r in rr]
        changes[ds] = ch
        ok += [sign * c > 0 for c in ch]
        ini = np.mean([r[f"{measure}_initial"] for r in rr])
        fin = np.mean([r[f"{measure}_final"] for r in rr])
        parts.append(f"{ds}: {ini:.3f} -> {fin:.3f} bits (per seed change " + ", ".join(f"{c:+.3f}" for c in ch) + ")")
    frac = float(np.mean(ok))
    mean_ok = all(sign * np.mean(c) > 0 for c in changes.values())
    verdict = "reproduced" if frac == 1.0 else ("partly" if frac >= 0.5 or mean_ok else "not_reproduced")
    measured = {"value": "; ".join(parts), "changes": changes, "fraction": frac}
    note = ""
    control = _param(claim, "control", None)
    if control:  # reported next to the verdict, never part of it
        ctrl = {ds: [_change(r, control) for r in rr] for ds, rr in sorted(by_ds.items())}
        measured[f"{control}_changes"] = ctrl
        note = f"control {control} (not in the paper), change per seed: " + "; ".join(
            f"{ds} " + ", ".join(f"{c:+.3f}" for c in ch) for ds, ch in ctrl.items())
    return measured, verdict, note


def rule_dsmi_labels(claim: dict, rows: list[dict]):
    """DSMI(Z; Y) with true vs random labels, paired by (dataset, seed): reproduced if in every pair the
    true-label run rises (final > initial), the random-label run's change is below ``max_random_fraction`` of
    the true-label rise, and the true run ends above the random one by ``min_gap`` bits; partly if this holds for
    at least half the pairs; else not reproduced."""
    measure = _param(claim, "measure", "dsmi_zy")
    frac_max = float(_param(claim, "max_random_fraction", 0.5))
    min_gap = float(_param(claim, "min_gap", 0.1))
    true = {(r["dataset"], r["seed"]): r for r in _training_rows(rows, "clean")}
    rand = {(r["dataset"], r["seed"]): r for r in _training_rows(rows, "random")}
    pairs = sorted(set(true) & set(rand))
    if not pairs:
        return {"value": "no true/random pairs"}, "not_run", ""
    checks, parts = {}, []
    for key in pairs:
        tr, rr = true[key], rand[key]
        d_true, d_rand = _change(tr, measure), _change(rr, measure)
        gap = tr[f"{measure}_final"] - rr[f"{measure}_final"]
        checks[f"{key[0]}/s{key[1]}"] = bool(d_true > 0 and d_rand < frac_max * d_true and gap >= min_gap)
        parts.append(f"{key[0]} s{key[1]}: true {tr[f'{measure}_initial']:.3f}->{tr[f'{measure}_final']:.3f}, "
                     f"random {rr[f'{measure}_initial']:.3f}->{rr[f'{measure}_final']:.3f}")
    frac = float(np.mean(list(checks.values())))
    verdict = "reproduced" if frac == 1.0 else ("partly" if frac >= 0.5 else "not_reproduced")
    failing = [k for k, v in checks.items() if not v]
    return ({"value": "; ".join(parts) + " (bits)", "checks": checks}, verdict,
            "" if not failing else f"fails for: {', '.join(failing)}")


RULES = {
    "dse_toy_monotone": rule_toy_monotone,
    "dse_toy_noise": rule_toy_noise,
    "dse_training_trend": rule_training_rises,
    "dse_dsmi_labels": rule_dsmi_labels,
}


# ----------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    toy = _toy_rows(rows)
    if toy:
        t = int(toy[0].get("toy_t", 1))
        n_points = int(toy[0].get("n_points", 2))
        pts = [p for row in toy for p in row["points"] if p.get("kind") == "toy" and p["t"] == t]
        dists = sorted({p["distribution"] for p in pts})
        noises = sorted({p["noise"] for p in pts})
        fig, axes = plt.subplots(2, len(dists), figsize=(5.5 * len(dists), 7.5), squeeze=False, sharex=True)
        cmap = plt.get_cmap("viridis")
        for j, dist in enumerate(dists):
            for i, noise in enumerate(noises):
                sel = sorted((p for p in pts if p["distribution"] == dist and p["noise"] == noise), key=lambda p: p["k"])
                ks = sorted({p["k"] for p in sel})
                dse = [np.mean([p["dse_mean"] for p in sel if p["k"] == k]) for k in ks]
                sd = [np.mean([p["dse_std"] for p in sel if p["k"] == k]) for k in ks]
                cse = [np.mean([p["cse_mean"] for p in sel if p["k"] == k]) for k in ks]
                color = cmap(i / max(len(noises) - 1, 1))
                axes[0][j].errorbar(ks, dse, yerr=sd, color=color, marker="o", ms=3, label=f"noise {noise:g}")
                axes[1][j].plot(ks, cse, color=color, marker="o", ms=3, label=f"noise {noise:g}")
            axes[0][j].axhline(math.log2(n_points), color="k", ls="--", lw=0.8,
                               label="max possible DSE, log2 N (flat spectrum)")
            axes[1][j].axhline(math.log2(n_points), color="k", ls="--", lw=0.8, label="log2 N: CSE saturation")
            axes[0][j].set_title(f"{dist}: DSE (t={t}); paper: rises with k, unmoved by noise")
            axes[1][j].set_title(f"{dist}: classic Shannon entropy; paper: saturates")
            axes[1][j].set_xlabel(f"intrinsic dimension k (ambient D = {int(toy[0].get('ambient_dim', 0))})")
            axes[0][j].set_ylabel("DSE (bits)")
            axes[1][j].set_ylabel("CSE (bits)")
        axes[0][0].legend(fontsize=7)
        axes[1][0].legend(fontsize=7)
        fig.tight_layout()
        p = out_dir / "dse_toy.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)

    train = _training_rows(rows)
    if train:
        datasets = sorted({r["dataset"] for r in train})
        panels = [("dse_z", "DSE(Z)", "paper: rises"),
                  ("dse_z_fixed_scale", "DSE(Z), Z rescaled to epoch-0 spread", "our control, not in the paper"), ("dsmi_zy", "DSMI(Z;Y)", "paper: rises (clean), flat (random)"),
                  ("dsmi_zx", "DSMI(Z;X)", "paper: rises on MNIST, falls on CIFAR-10"),
                  ("cse_z", "CSE(Z)", "classic baseline"), ("probe_acc", "probe accuracy", ""),
                  ("z_scale", "RMS spread of Z", "DSE's fixed sigma makes it scale-dependent")]
        fig, axes = plt.subplots(len(datasets), len(panels), figsize=(3.4 * len(panels), 3.0 * len(datasets)),
                                 squeeze=False)
        colors = {"clean": "#1f77b4", "random": "#d62728"}
        for i, ds in enumerate(datasets):
            for j, (m, title, pred) in enumerate(panels):
                ax = axes[i][j]
                arrows: list[tuple[str, float, float]] = []
                for labels in LABELS:
                    runs = _training_rows(rows, labels, ds)
                    curves = []
                    for r in runs:
                        ep = [p["epoch"] for p in r["points"] if p.get("kind") == "epoch"]
                        v = [p.get(m) for p in r["points"] if p.get("kind") == "epoch"]
                        if any(x is None for x in v):
                            continue
                        ax.plot(ep, v, color=colors[labels], alpha=0.3, lw=0.8)
                        curves.append((ep, v))
                    if curves:
                        n = min(len(c[1]) for c in curves)
                        ax.plot(curves[0][0][:n], np.mean([c[1][:n] for c in curves], axis=0), color=colors[labels],
                                lw=2, label=f"{labels} labels")
                        if m in ("dse_z", "dsmi_zy", "dsmi_zx"):
                            arrows.append((labels, float(np.mean([c[1][0] for c in curves])), curves[0][0][n - 1]))
                # the paper's predicted direction from the initial value: up (clean; DSMI(Z;X) down on CIFAR-10),
                # flat for DSMI(Z;Y) with random labels
                lo, hi = ax.get_ylim()
                for labels, y0, x1 in arrows:
                    if labels == "clean":
                        dy = (-0.4 if (m == "dsmi_zx" and ds == "cifar10") else 0.4) * (hi - lo)
                    elif m == "dsmi_zy":
                        dy = 0.0
                    else:
                        continue
                    ax.annotate("", xy=(x1, y0 + dy), xytext=(0, y0),
                                arrowprops={"arrowstyle": "->", "ls": "--", "color": colors[labels], "alpha": 0.6})
                    lo, hi = min(lo, y0 + 1.05 * dy), max(hi, y0 + 1.05 * dy)
                ax.set_ylim(lo, hi)
                ax.set_title(f"{ds}: {title}", fontsize=9)
                if pred:
                    ax.text(0.02, 0.02, pred, transform=ax.transAxes, fontsize=6.5, color="gray")
                ax.set_xlabel("epoch")
        axes[0][0].legend(fontsize=7)
        fig.suptitle("DSE/DSMI of the penultimate layer on a fixed probe set (dashed arrows: the paper's predicted direction)")
        fig.tight_layout()
        p = out_dir / "dse_training.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


NOTES = [
    "Only the abstract of arXiv:2312.04823 could be read; the method and protocol are taken from the official code "
    "(ChenLiu-1996/DiffusionSpectralEntropy: api/diffusion.py, api/dse.py, api/dsmi.py, "
    "src/manifold_investigation/toy_data_DSE.py and toy_data_entropy.py, "
    "src/main_studies/training_dynamic/01_train_embeddings.py and its configs).",
    "DSE settings are the defaults of the official api/dse.py version that the paper's training script calls (the "
    "one with a classic_shannon_entropy switch, identical to the packaged dse/dse.py): Gaussian kernel sigma = 10 on "
    "raw (unnormalised) representations, t = 1, exact eigenvalues, all eigenvalues kept (an older api/dse.py and the "
    "toy scripts' von_neumann_entropy drop the top eigenvalue 1; drop_trivial: true reproduces that).",
    "With a fixed sigma DSE is not scale invariant: it grows when the points spread out. We record the RMS spread of "
    "Z and, as our own control (not in the paper), dse_z_fixed_scale: DSE of Z rescaled to the spread it had at "
    "epoch 0.",
    "Toy study as in the official toy_data_entropy.py (N = 500, D = 2048, 20 intrinsic dimensions from 102 to 2048, "
    "uniform and Gaussian, uniform noise of amplitude 0.01-0.7 on every coordinate, 3 draws; another stored version "
    "uses D = 1024 and noise up to 0.3). We add noise level 0 as the reference, and each draw reuses the same clean "
    "points for every noise level so that only the noise differs [reconstructed] (the official script redraws them). "
    "Because the sweep starts at k = 102 > log2 N, binned CSE is at log2 N for every k even without noise.",
    "Training study: the paper trains ResNet-type timm models at 224x224 for 200 epochs (AdamW, lr 1e-3, batch 256, "
    "cosine schedule, augmentation) and measures up to ~5,000 test images; here a LeNet-5 at native resolution, "
    "10k training images, a few epochs, AdamW lr 1e-3 without schedule or augmentation, 1,000 probe images "
    "[reconstructed: scale].",
    "Z is the input of the last linear layer (LeNet: the 84-unit ReLU output), as the official model.encode. "
    "X for DSMI(Z; X) is the flattened probe images in [0, 1] (the official code uses mean/std-normalised images "
    "resized to 64x64) [reconstructed], spectrally clustered once into 10 clusters and reused every epoch, as "
    "officially. Y is the true test label in both true- and random-label runs.",
    "Random labels: a fixed seeded permutation of all training labels (the official 'wronglabel' runs permute the "
    "targets of the whole training set).",
    "The CIFAR-10 data here is the offline mirror's lossy JPEG (q75, 4:2:0) stand-in, not the real CIFAR-10; "
    "the DSMI(Z; X) trend on it is reported as measured.",
    "The ICML-2023 workshop version of this paper reported DSE decreasing during generalising training; the "
    "arXiv version (and this contract) states that it increases.",
]
