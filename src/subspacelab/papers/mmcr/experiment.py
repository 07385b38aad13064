"""What one run of mmcr computes: for one seed, one encoder trained from scratch by each self-supervised arm on
the same unlabelled images at an equal budget (the same augmented views per step and the same number of steps,
the same network, optimiser and augmentations), then every encoder judged the same way.

Arms (``selfsup.objectives``): ``mmcr`` (the nuclear norm of the view centroids, N views of B images),
``mmcr_2views`` (the same with 2 views of twice as many images), ``simclr`` (NT-Xent) and ``barlow`` (Barlow
Twins), both on 2 views of twice as many images, and ``random_init`` (the untrained network: the floor).
Training goes through Lightning (``lit.multiview.fit_multiview``).

Evaluation, the same for every arm: a linear probe (logistic regression on the standardised frozen encoder
features of the labelled training images, scored on the test split), the weighted kNN monitor of the MMCR code
(k = 200, T = 0.5, encoder features), and the geometry of the view manifolds of test images in the L2-normalised
projector space (``selfsup.geometry.manifold_geometry``: radius and dimension of each image's views, nuclear
norm and effective rank of the centroids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from subspacelab.configurable import require
from subspacelab.experiments.harness import map_trials, trial_seed
from subspacelab.selfsup.objectives import NAMES

ARMS = ("mmcr", "mmcr_2views", "simclr", "barlow", "random_init")


@dataclass
class Experiment:
    """mmcr: one run = one seed: every arm trained at the same budget, then probed, kNN-scored and measured
    (module doc). Tags: [code] the official MMCR code (ThomasYerxa/mmcr); [ours] chosen for cpu scale (the paper's
    body was not read)."""

    TAG: ClassVar[str] = "${.dataset}"  # the run's name in its run_dir (the seed is appended)

    data_root: str = "data/raw"
    dataset: str = "fashion_mnist"  # [ours] the code's CIFAR-10/100 and STL-10 are heavy on 2 cores
    ssl_train: int = (
        10000  # [ours] unlabelled training images (the first of a seeded draw of the train split)
    )
    # --- the network [code: ResNet-50 with a 3x3 stem, projector 2048 -> 512 -> 128; ours: a small ConvNet]
    backbone: str = "conv"  # conv | resnet50 (torchvision's, with the code's 3x3 stem and no max-pool)
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])  # conv: the blocks' widths
    hidden: int = 512  # [code] projector hidden width
    out_dim: int = 128  # [code] projector output width
    # --- the budget, equal for every arm [ours]
    views: int = 4  # views per image of the mmcr arm [code: 40 for CIFAR, 2-8 for ImageNet]
    views_per_step: int = (
        256  # every arm embeds this many views per step (batch = views_per_step / its views)
    )
    steps: int = 400
    lr: float = 1.0e-3  # [code] Adam, no schedule
    weight_decay: float = 1.0e-6  # [code]
    lmbda: float = 0.0  # [code] MMCR's local nuclear-norm weight (0 in the released scripts)
    temperature: float = 0.5  # SimCLR's NT-Xent temperature [lightly's default]
    barlow_lambda: float = 5.0e-3  # Barlow Twins' off-diagonal weight [Barlow Twins paper]
    crop_scale: list[float] = field(default_factory=lambda: [0.2, 1.0])  # [ours; code: (0.08, 1) on CIFAR]
    # --- the evaluation
    knn_k: int = 200  # [code] knn.py
    knn_temperature: float = 0.5  # [code]
    probe_test: int = 10000  # [ours] test images probed and kNN-scored
    geometry_images: int = 500  # [ours] test images whose view manifolds are measured
    geometry_views: int = 16  # [ours] views drawn of each
    arms: list[str] = field(default_factory=lambda: list(ARMS))

    def __post_init__(self):
        for name in (
            "ssl_train",
            "hidden",
            "out_dim",
            "views",
            "views_per_step",
            "steps",
            "knn_k",
            "probe_test",
        ):
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(
            self.dataset in ("fashion_mnist", "mnist", "cifar10"),
            "experiment.dataset",
            "fashion_mnist, mnist or cifar10",
        )
        require(self.backbone in ("conv", "resnet50"), "experiment.backbone", "must be conv or resnet50")
        require(self.views >= 2, "experiment.views", "must be >= 2 (a centroid of one view says nothing)")
        for n in (self.views, 2):
            require(self.views_per_step % n == 0, "experiment.views_per_step", f"must be divisible by {n}")
        require(
            self.views_per_step // 2 <= self.ssl_train,
            "experiment.views_per_step",
            "too many images per step",
        )
        require(self.knn_k <= self.ssl_train, "experiment.knn_k", "must be <= experiment.ssl_train")
        require(self.lr > 0 and self.weight_decay >= 0, "experiment.lr", "need lr > 0 and weight_decay >= 0")
        require(
            0 < self.crop_scale[0] <= self.crop_scale[1] <= 1,
            "experiment.crop_scale",
            "need 0 < lo <= hi <= 1",
        )
        require(self.geometry_views >= 2, "experiment.geometry_views", "must be >= 2")
        require(
            1 < self.geometry_images <= self.probe_test,
            "experiment.geometry_images",
            "must be in 2..probe_test",
        )
        unknown = sorted(set(self.arms) - set(ARMS))
        require(
            not unknown and self.arms, "experiment.arms", f"choose from {', '.join(ARMS)} (got {unknown})"
        )

    # --- the arms ---------------------------------------------------------------------------------------------

    def arm_views(self, arm: str) -> int:
        return self.views if arm == "mmcr" else 2

    def objective(self, arm: str):
        from subspacelab.selfsup.objectives import objective

        name = "mmcr" if arm.startswith("mmcr") else arm
        assert name in NAMES, arm
        options = {"mmcr": {"lmbda": self.lmbda}, "simclr": {"temperature": self.temperature}}
        return objective(name, **options.get(name, {"lambda_param": self.barlow_lambda}))

    def network(self, in_channels: int, seed: int):
        """(encoder, projector), initialised from ``seed``: the same initial weights for every arm of a seed."""
        from subspacelab.models.conv_encoder import ConvEncoder, Projector

        torch.manual_seed(trial_seed(seed, "mmcr", "init"))
        if self.backbone == "resnet50":
            encoder = _resnet50(in_channels)
        else:
            encoder = ConvEncoder(in_channels, tuple(self.channels))
        return encoder, Projector(encoder.out_dim, self.hidden, self.out_dim)

    def views_of(self, n_views: int, size: int, seed: int):
        from subspacelab.selfsup.views import RandomViews

        return RandomViews(n_views, size, scale=tuple(self.crop_scale), seed=seed)

    # --- the run ----------------------------------------------------------------------------------------------

    def data(self, seed: int):
        """(unlabelled images, their labels, test images, test labels): floats in [0, 1], standardised by the
        training subset's channel means and deviations."""
        from subspacelab.data.vision import load_split, prepare_dataset

        prepare_dataset(self.dataset, self.data_root)
        xtr, ytr = load_split(self.dataset, self.data_root, train=True)
        xte, yte = load_split(self.dataset, self.data_root, train=False)
        pick = np.random.default_rng(trial_seed(seed, "mmcr", "subset")).permutation(len(xtr))[
            : self.ssl_train
        ]
        xtr, ytr = xtr[torch.as_tensor(pick)].float() / 255, ytr[torch.as_tensor(pick)]
        xte, yte = xte[: self.probe_test].float() / 255, yte[: self.probe_test]
        mean, std = xtr.mean((0, 2, 3), keepdim=True), xtr.std((0, 2, 3), keepdim=True)
        return (xtr - mean) / std, ytr, (xte - mean) / std, yte

    def run_arm(self, arm: str, seed: int, out_dir: Path, trainer=None) -> dict:
        """Train (unless ``random_init``) and evaluate one arm."""
        from subspacelab.lit.multiview import fit_multiview

        torch.set_num_threads(1)
        xtr, ytr, xte, yte = self.data(seed)
        encoder, projector = self.network(xtr.shape[1], seed)
        history = []
        if arm != "random_init":
            n = self.arm_views(arm)
            module = fit_multiview(
                encoder,
                projector,
                xtr,
                self.objective(arm),
                self.views_of(n, xtr.shape[-1], trial_seed(seed, "mmcr", "views")),
                batch=self.views_per_step // n,
                seed=trial_seed(seed, "mmcr", "order"),
                steps=self.steps,
                lr=self.lr,
                weight_decay=self.weight_decay,
                trainer=trainer,
                limit_val_batches=0,
                default_root_dir=str(Path(out_dir) / arm),
            )
            history = module.history
        encoder.eval(), projector.eval()
        return {
            "arm": arm,
            "views": self.arm_views(arm),
            **self.evaluate(encoder, projector, xtr, ytr, xte, yte, seed),
            "history": history,
        }

    def evaluate(self, encoder, projector, xtr, ytr, xte, yte, seed: int) -> dict:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        from subspacelab.selfsup.geometry import knn_accuracy, manifold_geometry

        with torch.no_grad():
            ftr, fte = _features(encoder, xtr), _features(encoder, xte)
            scaler = StandardScaler().fit(ftr.numpy())
            probe = LogisticRegression(max_iter=2000).fit(scaler.transform(ftr.numpy()), ytr.numpy())
            views = self.views_of(self.geometry_views, xte.shape[-1], trial_seed(seed, "mmcr", "geometry"))
            some = xte[: self.geometry_images]
            v = views(some, torch.arange(len(some)), 0)
            z = _batched(lambda b: projector(encoder(b)), v.flatten(0, 1)).view(
                len(some), self.geometry_views, -1
            )
        return {
            "probe": float(probe.score(scaler.transform(fte.numpy()), yte.numpy())),
            "knn": knn_accuracy(ftr, ytr, fte, yte, self.knn_k, self.knn_temperature),
            "geometry": manifold_geometry(z),
        }

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        from subspacelab.lit.fit import is_distributed, world_size

        jobs = 1 if is_distributed(trainer) else n_jobs
        results = map_trials(
            lambda arm: self.run_arm(arm, seed, Path(out_dir), trainer),
            list(self.arms),
            min(jobs, len(self.arms)),
        )
        return {"world_size": world_size(), "results": results}


def _batched(fn, x, size: int = 1024):
    return torch.cat([fn(x[i : i + size]) for i in range(0, len(x), size)])


def _features(encoder, x):
    return _batched(encoder, x).double()


def _resnet50(in_channels: int):
    """torchvision's ResNet-50 as the MMCR code builds it for CIFAR: a 3x3 stride-1 stem, no max-pool, no fc; a
    2048-d feature."""
    import torchvision

    net = torchvision.models.resnet50()
    net.conv1 = torch.nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
    net.maxpool, net.fc = torch.nn.Identity(), torch.nn.Identity()
    net.out_dim = 2048
    return net
