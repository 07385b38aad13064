"""Image benchmarks of subspace clustering: Extended Yale B, ORL and COIL-20 (Deng Cai's 32x32 ``.mat``
files) and a class-balanced MNIST subset.

The ``.mat`` files hold ``fea`` (n, 1024), one image per row stored column-major (MATLAB), and ``gnd``
(n, 1) labels; image i is ``fea[i].reshape(32, 32).T``. They are read from the offline mirror
(``../shared/datasets`` or ``$SUBSPACELAB_DATA_MIRROR``), each checked against the SHA-256 in the mirror's
MANIFEST. MNIST comes through the project's torchvision loader (``data.vision``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from subspacelab.clustering.graphs import sha256
from subspacelab.data.mirror import ENV_VAR, DataUnavailableError, mirror_root

# name -> (path under the mirror, SHA-256 from shared/datasets/MANIFEST.md, where it comes from)
MAT_IMAGES = {
    "extended_yale_b": (
        "subspace/extended_yale_b/YaleB_32x32.mat",
        "3fbbda4eb781b9bb28025189677b6727706e114eb0215bbfd718f1f4fcb54b99",
        "Deng Cai's YaleB_32x32.mat (2414 cropped faces, 38 subjects), via tansyab1/CNN-Sparse@c52b9c2",
    ),
    "orl": (
        "subspace/orl/ORL_32x32.mat",
        "c30cb53be2cab2da293eaeb35c1a7c16cad513fa14d0400ad5ed51f03e1ce7c8",
        "Deng Cai's ORL_32x32.mat (400 faces, 40 subjects), via panji1990/Deep-subspace-clustering-networks@4aa8354",
    ),
    "coil20": (
        "subspace/coil20/COIL20.mat",
        "2a35c105dbb327492b90389e55612bcbf39187bc7c408252239903e4ce7d6958",
        "Deng Cai's COIL20.mat (1440 objects views, 20 objects), via panji1990/Deep-subspace-clustering-networks@4aa8354",
    ),
}
DATASETS = (*MAT_IMAGES, "mnist")


@dataclass
class ImageSet:
    """Grey images in [0, 1] with their classes."""

    name: str
    images: torch.Tensor  # (n, 1, H, W) float32
    labels: np.ndarray  # (n,) int64, classes 0..K-1
    provenance: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1

    def flat(self) -> np.ndarray:
        """(n, H·W) float64: one image per row, the input of the linear methods."""
        return self.images.reshape(self.images.shape[0], -1).double().numpy()

    def summary(self) -> dict:
        return {
            "dataset": self.name,
            "n_points": int(self.images.shape[0]),
            "image": list(self.images.shape[1:]),
            "n_classes": self.n_classes,
        }


def how_to_get(name: str) -> str:
    rel, _, source = MAT_IMAGES[name]
    return (
        f"image set {name!r} not found: expected <mirror>/{rel} (mirror = ../shared/datasets next to the working "
        f"directory, or ${ENV_VAR}). Get {Path(rel).name} ({source}) and place it there, or point {ENV_VAR} at a "
        f"folder with that layout."
    )


def load_mat_images(name: str, mirror: str | Path | None = None, verify: bool = True) -> ImageSet:
    """One of ``MAT_IMAGES`` from the offline mirror; labels renumbered 0..K-1 in sorted order."""
    import scipy.io

    if name not in MAT_IMAGES:
        raise KeyError(f"unknown image set {name!r}; known: {', '.join(MAT_IMAGES)}")
    rel, digest, source = MAT_IMAGES[name]
    root = mirror_root(mirror)
    path = root / rel if root is not None else None
    if path is None or not path.is_file():
        raise DataUnavailableError(how_to_get(name))
    exact = sha256(path) == digest if verify else None
    data = scipy.io.loadmat(path)
    fea = np.asarray(data["fea"], dtype=np.float64)
    if fea.max() > 1.0:  # uint8 grey levels
        fea = fea / 255.0
    side = int(round(np.sqrt(fea.shape[1])))
    images = fea.reshape(-1, side, side).transpose(0, 2, 1)[:, None]  # column-major MATLAB images
    _, labels = np.unique(np.asarray(data["gnd"]).ravel(), return_inverse=True)
    prov = {
        "dataset": name,
        "source": source,
        "path": rel,
        "sha256_expected": digest,
        "exact": bool(exact) if verify else True,
    }
    if verify and not exact:
        prov["note"] = f"{rel}: SHA-256 differs from the MANIFEST's {digest[:12]}…"
    return ImageSet(
        name, torch.from_numpy(np.ascontiguousarray(images)).float(), labels.astype(np.int64), prov
    )


def mnist_subset(per_class: int, seed: int, data_root: str | Path = "data/raw") -> ImageSet:
    """``per_class`` images of each digit drawn without replacement from the MNIST test split (the protocol of
    the authors' earlier MLG-DSC: 50 per digit from the 10k test images), sorted by class."""
    from subspacelab.data.vision import load_split, prepare_dataset

    prov = prepare_dataset("mnist", data_root)
    x, y = load_split("mnist", data_root, train=False)
    rng = np.random.default_rng(seed)
    pick = np.concatenate(
        [np.sort(rng.choice(np.flatnonzero(y.numpy() == c), per_class, replace=False)) for c in range(10)]
    )
    images = x[pick].float() / 255.0
    return ImageSet(
        "mnist",
        images,
        y.numpy()[pick].astype(np.int64),
        {
            "dataset": "mnist",
            "split": "test",
            "per_class": per_class,
            "draw_seed": seed,
            **{k: v for k, v in prov.items() if k in ("source", "exact")},
        },
    )


def load_image_set(
    name: str, seed: int = 0, mnist_per_class: int = 50, data_root: str | Path = "data/raw"
) -> ImageSet:
    if name == "mnist":
        return mnist_subset(mnist_per_class, seed, data_root)
    return load_mat_images(name)
