"""What one run of subspace_ad computes: for one seed, a patch-feature backbone trained (through Lightning) on
Fashion-MNIST's training split, then for every category and every shot count k, few-shot anomaly detection of
synthetic local defects on that category's test images by every scorer.

Protocol (MVTec-like, one category at a time): the fit set is k training images of the category, each with
``augmentations`` randomly rotated copies (SubspaceAD's default augmentation); the test set is ``test_images``
of the category's test images, half of them given one synthetic local defect (``detection.defects``: pasted
patch, scratch or hole, cycled) with its pixel mask. Every scorer (``detection.scorers``) is fitted on the fit
set's patch features and judged by image AUROC (defective vs intact) and pixel AUROC (defect pixels vs the
rest) on the same maps (``detection.maps``: bilinear upsampling, SubspaceAD's 3×3 Gaussian, top-1% mean).

Arms: ``subspacead`` (PCA residual at ev = 0.99), ``subspacead_ev95`` (ev = 0.95), ``memory_bank`` (nearest
patch by cosine distance, AnomalyDINO-style), ``mahalanobis`` (one Ledoit-Wolf Gaussian) and
``subspacead_random_backbone`` (the same PCA on the untrained initial backbone's features: a control).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from subspacelab.configurable import require
from subspacelab.detection import defects, maps, scorers
from subspacelab.experiments.harness import trial_seed

ARMS = ("subspacead", "subspacead_ev95", "memory_bank", "mahalanobis", "subspacead_random_backbone")
CATEGORIES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")


@dataclass
class Experiment:
    """subspace_ad: one run = one seed: the backbone trained once, then every category × shot count × arm
    (module doc). Tags: [code] CLendering/SubspaceAD (main.py, config.py, core/pca.py, post_process/scoring.py,
    scripts/benchmark_few_shot.sh); [notes] the project notes' plan; [ours] chosen for cpu scale."""

    TAG: ClassVar[str] = "fmnist"  # the run's name in its run_dir (the seed is appended)

    categories: list[int] = field(
        default_factory=lambda: list(range(10))
    )  # Fashion-MNIST classes, each normal once
    shots: list[int] = field(default_factory=lambda: [1, 2, 4])  # [code] k-shot fit sets
    augmentations: int = 30  # [code] --aug_count 30 rotated copies per shot image
    max_rotation: float = 345.0  # [code] RandomRotation(degrees=(0, 345))
    ev: float = 0.99  # [code] --pca_ev: explained variance kept by the subspace
    ev_alt: float = 0.95  # [code: ev_ablation.sh sweeps 0.95..1.0] the second threshold
    blur_sigma: float = 4.0  # [code] cv2.GaussianBlur((3, 3), 4.0) on the upsampled map
    top_fraction: float = 0.01  # [code] image score = mean of the top 1% of the map's pixels
    test_images: int = 200  # [ours] per category, half with a defect
    # --- the backbone (trained by the pipeline; stands in for frozen DINOv2) [ours]
    data_root: str = "data/raw"
    width: int = 64  # channels of the patch layers (the patch feature's dimension)
    depth: int = 2  # patch layers averaged into the patch feature
    backbone_train: int | None = 30000  # training images (None = all 60,000)
    backbone_epochs: int = 2
    batch_size: int = 128
    lr: float = 1.0e-3  # Adam

    def __post_init__(self):
        require(len(self.categories) >= 1, "experiment.categories", "name at least one class in 0..9")
        require(all(0 <= int(c) <= 9 for c in self.categories), "experiment.categories", "classes are 0..9")
        require(
            all(int(k) >= 1 for k in self.shots) and self.shots, "experiment.shots", "need shot counts >= 1"
        )
        require(self.augmentations >= 0, "experiment.augmentations", "must be >= 0")
        for name in ("ev", "ev_alt"):
            require(0 < getattr(self, name) <= 1, f"experiment.{name}", "must be in (0, 1]")
        require(
            self.test_images >= 4 and self.test_images % 2 == 0,
            "experiment.test_images",
            "an even number >= 4",
        )
        require(0 < self.top_fraction <= 1, "experiment.top_fraction", "must be in (0, 1]")
        for name in ("width", "depth", "backbone_epochs", "batch_size"):
            require(int(getattr(self, name)) >= 1, f"experiment.{name}", "must be >= 1")
        require(self.lr > 0, "experiment.lr", "must be > 0")

    # --- the backbone -----------------------------------------------------------------------------------------

    def train_backbone(self, x: torch.Tensor, y: torch.Tensor, seed: int, out_dir: Path, trainer=None):
        """(initial network, trained network, its test accuracy is measured by the caller)."""
        from subspacelab.lit.classifier import fit_classifier
        from subspacelab.models.patch_cnn import PatchConvNet

        torch.manual_seed(trial_seed(seed, "subspace_ad", "init"))
        net = PatchConvNet(10, self.width, self.depth)
        initial = copy.deepcopy(net).eval()
        fit_classifier(
            net,
            x,
            y,
            10,
            seed=seed,
            epochs=self.backbone_epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            trainer=trainer,
            out_dir=out_dir,
        )
        return initial, net.eval()

    # --- the few-shot sets ------------------------------------------------------------------------------------

    def fit_images(self, train: torch.Tensor, k: int, rng: np.random.Generator) -> torch.Tensor:
        """k shot images and ``augmentations`` rotated copies of each."""
        from torchvision.transforms.v2 import functional as TF

        shots = train[rng.permutation(len(train))[:k]]
        out = [shots]
        for _ in range(self.augmentations):
            angles = rng.uniform(0.0, self.max_rotation, size=k)
            out.append(torch.stack([TF.rotate(img, float(a)) for img, a in zip(shots, angles, strict=True)]))
        return torch.cat(out)

    def test_set(self, test: torch.Tensor, donors: torch.Tensor, rng: np.random.Generator):
        """(images, image labels, pixel masks): the first half intact, the second half with one defect each."""
        pick = test[rng.permutation(len(test))[: self.test_images]].numpy()[:, 0]
        half = self.test_images // 2
        images, masks = [pick[:half]], [np.zeros_like(pick[:half], dtype=bool)]
        for i, img in enumerate(pick[half:]):
            donor = donors[rng.integers(len(donors))].numpy()[0]
            bad, mask = defects.add_defect(img, defects.KINDS[i % len(defects.KINDS)], rng, donor=donor)
            images.append(bad[None]), masks.append(mask[None])
        labels = np.r_[np.zeros(half, bool), np.ones(half, bool)]
        x = torch.as_tensor(np.concatenate(images), dtype=torch.float32)[:, None]
        return x, labels, np.concatenate(masks)

    # --- the run ----------------------------------------------------------------------------------------------

    def run(self, seed: int, out_dir: Path, n_jobs: int = 1, trainer=None) -> dict:
        from subspacelab.data.vision import load_split, prepare_dataset
        from subspacelab.lit.fit import world_size

        prepare_dataset("fashion_mnist", self.data_root)
        xtr, ytr = load_split("fashion_mnist", self.data_root, train=True)
        xte, yte = load_split("fashion_mnist", self.data_root, train=False)
        xtr, xte = xtr.float() / 255, xte.float() / 255  # (N, 1, 28, 28)
        keep = slice(None) if self.backbone_train is None else slice(0, self.backbone_train)
        initial, net = self.train_backbone(
            xtr[keep], ytr[keep], trial_seed(seed, "subspace_ad", "backbone"), out_dir, trainer
        )
        with torch.no_grad():
            accuracy = float(torch.cat([net(c).argmax(1) for c in xte.split(2000)]).eq(yte).float().mean())
        results = []
        backbones = {"trained": net, "random": initial}
        for c in self.categories:
            rng = np.random.default_rng(trial_seed(seed, "subspace_ad", "test", c))
            x_test, labels, masks = self.test_set(xte[yte == c], xte[yte != c], rng)
            test_features = {b: _features(m, x_test) for b, m in backbones.items()}
            for k in self.shots:
                rng_k = np.random.default_rng(trial_seed(seed, "subspace_ad", "shots", c, k))
                x_fit = self.fit_images(xtr[ytr == c], int(k), rng_k)
                fit_features = {b: _features(m, x_fit) for b, m in backbones.items()}
                for arm in ARMS:
                    b = "random" if arm.endswith("random_backbone") else "trained"
                    scores = self.evaluate(arm, fit_features[b], test_features[b], labels, masks)
                    results.append({"category": int(c), "shots": int(k), "arm": arm} | scores)
        return {
            "backbone_test_accuracy": accuracy,
            "world_size": world_size(),
            "patch_dim": self.width,
            "results": results,
        }

    def evaluate(self, arm: str, fit_features: np.ndarray, test_features: np.ndarray, labels, masks) -> dict:
        """One arm's AUROCs: its scorer fitted on the fit set's patches, applied to the test images' patches."""
        name = {"memory_bank": "knn", "mahalanobis": "mahalanobis"}.get(arm, "pca")
        scorer = scorers.make_scorer(name, ev=self.ev_alt if arm == "subspacead_ev95" else self.ev)
        scorer.fit(fit_features.reshape(-1, fit_features.shape[-1]))
        n, patches, dim = test_features.shape
        patch = scorer.score(test_features.reshape(-1, dim)).reshape(n, patches)
        size = masks.shape[-1]
        pixel = maps.anomaly_maps(patch, int(round(patches**0.5)), size, self.blur_sigma)
        out = {
            "image_auroc": maps.image_auroc(maps.image_scores(pixel, self.top_fraction), labels),
            "pixel_auroc": maps.pixel_auroc(pixel, masks),
            "stored_floats": scorer.stored_floats,
            "fit_patches": int(fit_features.shape[0] * fit_features.shape[1]),
        }
        if name == "pca":
            out["components"] = scorer.rank
        return out


def _features(backbone, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([backbone.patch_features(c) for c in x.split(500)]).double().numpy()
