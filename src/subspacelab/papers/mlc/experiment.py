"""What a run of the MLC paper executes (one ``Experiment.run``). The maths is in ``subspacelab.clustering.mlc``;
TCR and MLC train through Lightning (``subspacelab.lit.mlc.fit_mlc``), placed by the run's ``trainer`` section
(one CPU by default; ``trainer=ddp trainer.devices=2`` trains on two processes, each with its slice of every
batch, and the read-out and baselines then run on rank 0's network, identical on every rank).

One run = one (dataset, seed), CPU-scale analogue of the paper's CIFAR protocol (docs/research/mlc.md §8):

1. a class-balanced subset of ``n_train`` training images (the paper clusters its training set, and so do we);
2. TCR self-supervised pre-training of a small CNN + pre-feature MLP + feature head (NMCE's loss form);
3. the one-shot Γ initialisation (cluster head := feature head), then MLC training (−R + R_c with
   Γ = Sinkhorn(C Cᵀ), two augmented views, paper eq. 6), logging R, R_c, Γ's entropy and the per-class /
   overall 95%-energy ranks of Z each epoch;
4. read-out: a dense Sinkhorn Γ of the cluster-head outputs over ``n_readout`` of the images, spectral
   clustering with k = #classes (the paper's Alg. 1 line 10);
5. the ablation "random cluster-head init" (same TCR start, same batches and augmentations);
6. baselines on Z_TCR and on Z_MLC: k-means (all images), EnSC and SSC-OMP (the first ``n_baseline`` images of
   the read-out subset, a cut grid, best-of-grid ACC chosen WITH the labels, as the paper does); MLC is also
   read out on exactly those ``n_baseline`` images for the comparison;
7. an η sweep of the read-out (Γ's row entropy and ACC per η) on the same ``n_baseline`` images.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import lightning as L
import numpy as np
import torch

from subspacelab.clustering import mlc as M
from subspacelab.clustering import run_method, scores
from subspacelab.clustering.baselines import spectral_from_affinity
from subspacelab.experiments.harness import trial_seed
from subspacelab.lit.fit import world_size
from subspacelab.lit.mlc import fit_mlc

DATASETS = ("mnist", "fashion_mnist", "cifar10")
BACKBONES = ("cnn", "resnet18")


@dataclass
class Experiment:
    """MLC (Ding, Tong, Chan, Dai, Ma, Haeffele; ICCV 2023, arXiv 2301.01805). One run = one (dataset, seed): TCR
    pre-training, one-shot Γ init, MLC training, Sinkhorn-Γ spectral read-out, the random-init ablation, and
    k-means / EnSC / SSC-OMP on Z_TCR and Z_MLC. Tags: [paper] main text; [CPP] LeslieTrue/CPP; [NMCE]
    zengyi-li/NMCE-release; [ours] chosen for CPU scale (UNVERIFIED for MLC; the official repo was not read).

    One (dataset, seed) run (module doc)."""

    TAG: ClassVar[str] = "${.dataset}"

    dataset: str = "mnist"  # mnist | fashion_mnist | cifar10 (paper scale)
    data_root: str = "data/raw"
    n_train: int = 10000  # class-balanced subset of the training split (clustered and reported on) [ours]
    # cnn: 4-block CNN for 28x28; resnet18: CIFAR ResNet-18 (paper scale) [ours] [paper]
    backbone: str = "cnn"
    channels: list[int] = field(
        default_factory=lambda: [16, 32, 64, 64]
    )  # CNN widths [ours; the notes' 32-64-128-128 was 4x slower on one thread]
    hidden: int = 512  # pre-feature Linear+BN+ReLU width [ours; CPP/NMCE 4096]
    dim: int = 32  # d, feature / cluster-head dimension [ours; paper 128]
    batch: int = 512  # [NMCE]
    # --- TCR pre-training, NMCE's form: −½[R(Z¹)+R(Z²)] − λ mean cos(z¹, z²)
    tcr_epochs: int = 12  # [ours; NMCE 500]
    tcr_lr: float = 1e-3  # Adam [ours; NMCE LARS-SGD]
    tcr_eps2: float = 0.5  # [NMCE]
    tcr_lambda: float = 10.0  # [ours; NMCE z_weight 100 left TCR collapsed at 12 epochs, see NOTES]
    # --- MLC: −R(Z) + R_c(Z, Γ), Γ = Sinkhorn(C Cᵀ), two views (paper eq. 6)
    mlc_epochs: int = 5  # [ours; CPP 30 on frozen features]
    eps2: float = 0.5  # ε² [NMCE; CPP hard-codes 0.1]
    eta: float = 0.175  # η [CPP --pieta]
    sinkhorn_iters: int = 10  # full log-domain iterations [ours; CPP 5 half-steps]
    lr_backbone: float = 1e-4  # 0: backbone frozen during MLC (CPP's head-only regime) [ours]
    lr_heads: float = 1e-3  # Adam on pre-feature, feature and cluster heads [ours]
    random_init_ablation: bool = True  # also train MLC from a random cluster head (one-shot init claim)
    # --- read-out and baselines
    n_readout: int = 2000  # dense Sinkhorn Γ + spectral clustering over the first n_readout images [ours]
    readout_iters: int = 50
    n_baseline: int = 600  # EnSC / SSC-OMP (O(N^3)) on the first n_baseline images; MLC also read out there
    eta_sweep: list[float] = field(
        default_factory=lambda: [0.05, 0.1, 0.175, 0.25]
    )  # read-out η ablation [notes' range, UNVERIFIED]
    kmeans_n_init: int = 10
    ensc_gamma: list[float] = field(
        default_factory=lambda: [5.0, 50.0]
    )  # cut from the paper's {1, 5, 10, 50, 100}
    ensc_tau: list[float] = field(default_factory=lambda: [0.9, 1.0])  # cut from the paper's {0.9, 0.95, 1}
    ensc_n_nonzero: int = 50  # [ChongYou/subspace-clustering default]
    omp_n_nonzero: list[int] = field(default_factory=lambda: [3, 5, 10, 20])  # the paper's k_max grid
    omp_thr: list[float] = field(
        default_factory=lambda: [1e-4, 1e-6]
    )  # cut from the paper's {1e-4, 1e-5, 1e-6, 1e-7}

    def __post_init__(self):
        self.channels = [int(c) for c in self.channels]
        self.eta_sweep = sorted(float(v) for v in self.eta_sweep)
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset: one of {DATASETS}, got {self.dataset!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone: one of {BACKBONES}, got {self.backbone!r}")
        if self.backbone == "cnn" and (not self.channels or min(self.channels) < 1):
            raise ValueError("channels: a non-empty list of positive widths")
        if min(self.hidden, self.dim, self.batch) < 2:
            raise ValueError("hidden, dim, batch: must be >= 2")
        if self.n_train < 20 or self.batch > self.n_train:
            raise ValueError(f"n_train: need >= 20 images and >= batch ({self.n_train} < {self.batch}?)")
        if not 10 <= self.n_baseline <= self.n_readout <= self.n_train:
            raise ValueError("need 10 <= n_baseline <= n_readout <= n_train")
        if min(self.tcr_epochs, self.mlc_epochs) < 0 or self.sinkhorn_iters < 1 or self.readout_iters < 1:
            raise ValueError("tcr_epochs, mlc_epochs >= 0; sinkhorn_iters, readout_iters >= 1")
        if min(self.tcr_eps2, self.eps2, self.eta, self.tcr_lr, self.lr_heads) <= 0 or self.lr_backbone < 0:
            raise ValueError("tcr_eps2, eps2, eta, tcr_lr, lr_heads: must be > 0; lr_backbone >= 0")
        if self.tcr_lambda < 0:
            raise ValueError("tcr_lambda: must be >= 0")
        if not self.eta_sweep or min(self.eta_sweep) <= 0:
            raise ValueError("eta_sweep: positive values")
        if not (self.ensc_gamma and self.ensc_tau and self.omp_n_nonzero and self.omp_thr):
            raise ValueError("ensc_gamma, ensc_tau, omp_n_nonzero, omp_thr: non-empty grids")
        if min(self.ensc_gamma) <= 0 or not all(0 < t <= 1 for t in self.ensc_tau):
            raise ValueError("ensc_gamma > 0 and 0 < ensc_tau <= 1")
        if min(self.omp_n_nonzero) < 1 or min(self.omp_thr) <= 0 or self.ensc_n_nonzero < 1:
            raise ValueError("omp_n_nonzero >= 1, omp_thr > 0, ensc_n_nonzero >= 1")

    # ------------------------------------------------------------------------------------------
    def network(self, in_channels: int) -> M.MLCNet:
        net = M.MLCNet(self.channels, self.hidden, self.dim, in_channels)
        if self.backbone == "resnet18":
            net.backbone = resnet18_cifar(in_channels)
            net.pre_feature[0] = torch.nn.Linear(512, self.hidden)
        return net

    def data(self, seed: int) -> tuple[torch.Tensor, np.ndarray]:
        """A class-balanced random subset of ``n_train`` training images (float in [0, 1]) and their labels."""
        from subspacelab.data.vision import load_split, prepare_dataset

        prepare_dataset(self.dataset, self.data_root)
        x, y = load_split(self.dataset, self.data_root, train=True)
        classes = torch.unique(y)
        per = self.n_train // len(classes)
        gen = torch.Generator().manual_seed(trial_seed(seed, "subset", self.dataset))
        keep = torch.cat(
            [
                torch.nonzero(y == c).flatten()[torch.randperm(int((y == c).sum()), generator=gen)[:per]]
                for c in classes
            ]
        )
        keep = keep[torch.randperm(len(keep), generator=gen)]
        return x[keep].float() / 255.0, y[keep].numpy()

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        # one thread: two BLAS threads competing with another process on 2 cores were ~100x slower here
        torch.set_num_threads(1)
        started = time.perf_counter()
        X, y = self.data(seed)
        k = int(len(np.unique(y)))
        torch.manual_seed(trial_seed(seed, "init"))
        net = self.network(X.shape[1])
        out: dict = {
            "dataset": self.dataset,
            "n_train": int(len(y)),
            "n_classes": k,
            "parameters": sum(p.numel() for p in net.parameters()),
        }
        t0 = time.perf_counter()
        out["tcr_log"] = train_tcr(net, X, self, trial_seed(seed, "tcr"), trainer)
        out["tcr_seconds"] = time.perf_counter() - t0
        tcr_state = copy.deepcopy(net.state_dict())
        Z_tcr, _ = embed(net, X)
        ro, sub = slice(0, self.n_readout), slice(0, self.n_baseline)

        # MLC from the one-shot init
        M.copy_feature_to_cluster_head(net)
        t0 = time.perf_counter()
        out["mlc_log"] = train_mlc(net, X, y, self, trial_seed(seed, "mlc"), trainer)
        out["mlc_seconds"] = time.perf_counter() - t0
        Z_mlc, C_mlc = embed(net, X)
        results = {
            "mlc": readout(C_mlc[ro], y[ro], k, self.eta, self.readout_iters, seed),
            "mlc_sub": readout(C_mlc[sub], y[sub], k, self.eta, self.readout_iters, seed),
        }
        print(
            f"  MLC read-out: ACC {results['mlc']['acc']:.3f} ({self.n_readout} images), "
            f"{results['mlc_sub']['acc']:.3f} ({self.n_baseline})",
            flush=True,
        )
        out["eta_sweep"] = [
            {"eta": eta, **readout(C_mlc[sub], y[sub], k, eta, self.readout_iters, seed)}
            for eta in self.eta_sweep
        ]

        # ablation: random cluster-head init from the same TCR network, same batches / augmentations
        if self.random_init_ablation:
            net.load_state_dict(tcr_state)
            M.reset_cluster_head(net, trial_seed(seed, "random-head"))
            t0 = time.perf_counter()
            out["mlc_random_init_log"] = train_mlc(net, X, y, self, trial_seed(seed, "mlc"), trainer)
            out["mlc_random_init_seconds"] = time.perf_counter() - t0
            _, C_rand = embed(net, X)
            results["mlc_random_init"] = readout(C_rand[ro], y[ro], k, self.eta, self.readout_iters, seed)
            results["mlc_random_init_sub"] = readout(
                C_rand[sub], y[sub], k, self.eta, self.readout_iters, seed
            )
            print(f"  MLC random-init read-out: ACC {results['mlc_random_init']['acc']:.3f}", flush=True)

        # baselines on Z_TCR and Z_MLC
        grids = {}
        for tag, Z in (("tcr", Z_tcr), ("mlc", Z_mlc)):
            Zn = Z.double().numpy()
            results[f"kmeans_{tag}"] = _score_row(
                run_method("kmeans", Zn, k, seed, labels_true=y, n_init=self.kmeans_n_init)
            )
            for method, grid in (
                (
                    "ensc",
                    [
                        {"gamma": g, "tau": t, "n_nonzero": self.ensc_n_nonzero}
                        for g in self.ensc_gamma
                        for t in self.ensc_tau
                    ],
                ),
                ("ssc_omp", [{"n_nonzero": n, "thr": t} for n in self.omp_n_nonzero for t in self.omp_thr]),
            ):
                rows = [
                    _score_row(run_method(method, Zn[sub], k, seed, labels_true=y[sub], **hp)) | {"hp": hp}
                    for hp in grid
                ]
                grids[f"{method}_{tag}"] = rows
                results[f"{method}_{tag}"] = max(
                    rows, key=lambda r: r["acc"]
                )  # best of grid: uses the labels
            print(
                f"  on Z_{tag.upper()}: k-means {results[f'kmeans_{tag}']['acc']:.3f}, EnSC "
                f"{results[f'ensc_{tag}']['acc']:.3f}, SSC-OMP {results[f'ssc_omp_{tag}']['acc']:.3f}",
                flush=True,
            )
        out["results"], out["grids"] = results, grids
        out["geometry"] = {tag: geometry(Z[ro], y[ro]) for tag, Z in (("tcr", Z_tcr), ("mlc", Z_mlc))}
        for m, r in results.items():
            for key in ("acc", "nmi", "ari"):
                out[f"{m}_{key}"] = r[key]
        out["world_size"] = world_size()
        out["seconds"] = time.perf_counter() - started
        return out


# ----------------------------------------------------------------------------------------------
# training and read-out
# ----------------------------------------------------------------------------------------------
def resnet18_cifar(in_channels: int = 3) -> torch.nn.Module:
    """torchvision ResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool), fc removed: -> 512."""
    import torchvision

    r = torchvision.models.resnet18(num_classes=10)
    r.conv1 = torch.nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
    r.maxpool = torch.nn.Identity()
    r.fc = torch.nn.Identity()
    r.out_dim = 512
    return r


def train_tcr(net: M.MLCNet, X: torch.Tensor, exp: Experiment, seed: int, trainer=None) -> list[dict]:
    """TCR pre-training (the cluster head is unused): Adam at ``tcr_lr`` on everything else, ``tcr_epochs``
    epochs; one row per epoch with the mean training statistics."""
    if exp.tcr_epochs == 0:
        return []
    lr = {
        "lr_backbone": exp.tcr_lr,
        "lr_heads": exp.tcr_lr,
        "eps2": exp.tcr_eps2,
        "tcr_lambda": exp.tcr_lambda,
    }
    module = fit_mlc(
        net,
        X,
        stage="tcr",
        epochs=exp.tcr_epochs,
        batch=exp.batch,
        seed=seed,
        trainer=trainer,
        module_kwargs=lr,
    )
    for row in module.history:
        print(f"  TCR epoch {row['epoch']}: loss {row['loss']:.2f} cos {row['cos']:.3f}", flush=True)
    _train_everything(net)
    return module.history


class MLCProbe(L.Callback):
    """Before MLC training and after every epoch, on fixed images (no augmentation, eval mode): R and R_c on a
    probe batch, Γ's row entropy there, and the 95%-energy ranks of Z over the read-out subset (``_probe``).
    Every rank measures its own network (identical parameters under DDP); rank 0's rows are reported."""

    def __init__(self, probe: torch.Tensor, Xr: torch.Tensor, yr: np.ndarray, exp: Experiment):
        self.probe, self.Xr, self.yr, self.exp = probe, Xr, yr, exp
        self.rows: list[dict] = []

    def measure(self, net: M.MLCNet, epoch: int) -> None:
        training = net.training
        self.rows.append({"epoch": epoch, **_probe(net, self.probe, self.Xr, self.yr, self.exp)})
        net.train(training)

    def on_train_start(self, trainer, pl_module):
        if not self.rows:
            self.measure(pl_module.net, 0)

    def on_train_epoch_end(self, trainer, pl_module):
        self.measure(pl_module.net, trainer.current_epoch + 1)


def train_mlc(
    net: M.MLCNet, X: torch.Tensor, y: np.ndarray, exp: Experiment, seed: int, trainer=None
) -> list[dict]:
    """MLC training; per epoch the mean training R, R_c, and the ``MLCProbe`` measures. Epoch 0 = the start."""
    probe = MLCProbe(X[: exp.batch], X[: exp.n_readout], y[: exp.n_readout], exp)
    if exp.mlc_epochs == 0:
        probe.measure(net, 0)
        return probe.rows
    module = fit_mlc(
        net,
        X,
        stage="mlc",
        epochs=exp.mlc_epochs,
        batch=exp.batch,
        seed=seed,
        trainer=trainer,
        callbacks=[probe],
        module_kwargs={
            "lr_backbone": exp.lr_backbone,
            "lr_heads": exp.lr_heads,
            "eps2": exp.eps2,
            "eta": exp.eta,
            "sinkhorn_iters": exp.sinkhorn_iters,
        },
    )
    train = {
        row["epoch"]: {f"train_{k}": v for k, v in row.items() if k != "epoch"} for row in module.history
    }
    log = [{"epoch": row["epoch"], **train.get(row["epoch"], {}), **row} for row in probe.rows]
    for e in log[1:]:
        print(
            f"  MLC epoch {e['epoch']}: loss {e['train_loss']:.3f} R {e['R']:.2f} R_c {e['Rc']:.2f} "
            f"class rank {e['class_rank_mean']:.1f} overall {e['overall_rank']}",
            flush=True,
        )
    _train_everything(net)
    return log


def _train_everything(net: M.MLCNet) -> None:
    """Undo the stage's freezing: every parameter trainable again (as the next stage expects)."""
    for p in net.parameters():
        p.requires_grad_(True)


@torch.no_grad()
def _probe(net: M.MLCNet, probe: torch.Tensor, Xr: torch.Tensor, yr: np.ndarray, exp: Experiment) -> dict:
    net.eval()
    z, c = net(probe)
    G = M.membership(c, exp.eta, exp.sinkhorn_iters)
    Zr, _ = embed(net, Xr)
    geo = ranks(Zr, yr)
    return {
        "R": float(M.coding_rate(z, exp.eps2)),
        "Rc": float(M.clustered_rate(z, G, exp.eps2)),
        "gamma_entropy": M.row_entropy(G),
        **geo,
    }


@torch.no_grad()
def embed(net: M.MLCNet, X: torch.Tensor, chunk: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(Z, C) of every image, eval mode, no augmentation."""
    net.eval()
    zs, cs = zip(*(net(X[i : i + chunk]) for i in range(0, len(X), chunk)), strict=True)
    return torch.cat(zs), torch.cat(cs)


def readout(C: torch.Tensor, y: np.ndarray, k: int, eta: float, n_iter: int, seed: int) -> dict:
    """Labels by spectral clustering (k clusters) of the symmetrised dense Sinkhorn Γ = P_{Ω,η}(C Cᵀ) of these
    images; ACC/NMI/ARI, Γ's row entropy and wall seconds."""
    t0 = time.perf_counter()
    G = M.sinkhorn(C.double() @ C.double().T, eta, n_iter)
    W = (0.5 * (G + G.T)).numpy()
    labels = spectral_from_affinity(W, k, seed)
    return {
        **scores(y, labels),
        "gamma_entropy": M.row_entropy(G),
        "n_points": int(len(y)),
        "n_clusters_found": int(len(np.unique(labels))),
        "seconds": time.perf_counter() - t0,
    }


def _score_row(r: dict) -> dict:
    return {key: r.get(key) for key in ("acc", "nmi", "ari", "seconds", "n_points", "status")}


def ranks(Z: torch.Tensor, y: np.ndarray, energy: float = 0.95) -> dict:
    per = {int(c): M.numerical_rank(Z[torch.from_numpy(y == c)], energy) for c in np.unique(y)}
    return {
        "class_ranks": per,
        "class_rank_mean": statistics.fmean(per.values()),
        "overall_rank": M.numerical_rank(Z, energy),
    }


def geometry(Z: torch.Tensor, y: np.ndarray) -> dict:
    intra, inter = M.cosine_blocks(Z, y)
    return {**ranks(Z, y), "dim": int(Z.shape[1]), "intra_cos": intra, "inter_cos": inter}
