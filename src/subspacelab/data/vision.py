"""Image classification data: MNIST, Fashion-MNIST (torchvision, byte-exact in the mirror) and CIFAR-10
(torchvision online; offline only the mirror's lossy JPEG stand-in, flagged as such).

Images are held in memory as uint8 tensors and served as float batches in [0, 1] (the paper's code
does no mean subtraction). Splits are fixed by ``split_seed``: a validation set is cut from the
official training set, the reported accuracy is on the official test set.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from subspacelab.data.mirror import DataUnavailableError, how_to_get, mirror_root


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    in_shape: tuple[int, int, int]
    num_classes: int
    mirror_layout: str


DATASETS = {
    "mnist": DatasetInfo("mnist", (1, 28, 28), 10, "mnist/MNIST/raw/*.gz"),
    "fashion_mnist": DatasetInfo("fashion_mnist", (1, 28, 28), 10, "fashion_mnist/FashionMNIST/raw/*.gz"),
    "cifar10": DatasetInfo("cifar10", (3, 32, 32), 10, "cifar10_jpeg_LOSSY/cifar10_jpeg_q75_LOSSY.zip"),
}

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
STANDIN_NOTE = (
    "CIFAR-10 here is the offline mirror's lossy JPEG (q75, 4:2:0) stand-in, not the real CIFAR-10: "
    "pixel values differ and accuracies are typically 2-3 points lower"
)


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def _provenance_path(root: Path, name: str) -> Path:
    return root / f"{name}.provenance.json"


def _torchvision_idx(name: str):
    import torchvision

    return {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST}[name]


def _prepare_idx(name: str, root: Path, mirror: Path | None) -> dict:
    cls = _torchvision_idx(name)
    try:
        cls(root, train=True, download=False)
        return {"source": "local", "exact": True}
    except RuntimeError:
        pass
    source = "download"
    mirror_raw = mirror / _info(name).mirror_layout.split("/*")[0] if mirror else None
    if mirror_raw is not None and mirror_raw.is_dir():
        raw = root / cls.__name__ / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for gz in mirror_raw.glob("*.gz"):
            shutil.copyfile(gz, raw / gz.name)
        source = "mirror"
    try:  # torchvision checks the MD5 of the .gz files and only extracts when they are present
        cls(root, train=True, download=True)
        cls(root, train=False, download=True)
    except Exception as err:  # noqa: BLE001 - any failure means: no data
        raise DataUnavailableError(how_to_get(name, _info(name).mirror_layout)) from err
    return {"source": source, "exact": True}


def _prepare_cifar10(root: Path, mirror: Path | None) -> dict:
    import torchvision

    try:
        torchvision.datasets.CIFAR10(root, train=True, download=True)
        torchvision.datasets.CIFAR10(root, train=False, download=True)
        return {"source": "torchvision", "exact": True}
    except Exception as err:  # noqa: BLE001
        zip_path = mirror / _info("cifar10").mirror_layout if mirror else None
        if zip_path is None or not zip_path.is_file():
            raise DataUnavailableError(how_to_get("cifar10", _info("cifar10").mirror_layout)) from err
    out = root / "cifar10_jpeg_LOSSY"
    out.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    with zipfile.ZipFile(zip_path) as zf:
        for split in ("train", "test"):
            names = sorted(n for n in zf.namelist() if n.startswith(f"{split}/") and n.endswith(".jpg"))
            x = np.stack([np.asarray(Image.open(zf.open(n)).convert("RGB")) for n in names])
            y = np.array([CIFAR10_CLASSES.index(n.split("/")[1]) for n in names])
            torch.save(
                {"x": torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), "y": torch.from_numpy(y)},
                out / f"{split}.pt",
            )
    return {"source": "mirror", "exact": False, "note": STANDIN_NOTE}


def prepare_dataset(name: str, root: str | Path = "data/raw", mirror: str | Path | None = None) -> dict:
    """Make ``name`` available under ``root`` and describe it.

    Two records are written: ``<name>.provenance.json`` says *what* the data is (the DVC
    dependency of every train stage: identical whether the files came from the network or a
    mirror) and ``<name>.source.json`` says where they came from on this machine.
    """
    root = Path(root)
    _info(name)
    prov_file, source_file = _provenance_path(root, name), root / f"{name}.source.json"
    if not (prov_file.is_file() and source_file.is_file() and _present(name, root)):
        root.mkdir(parents=True, exist_ok=True)
        mirror_dir = mirror_root(mirror)
        got = (
            _prepare_cifar10(root, mirror_dir) if name == "cifar10" else _prepare_idx(name, root, mirror_dir)
        )
        identity = {"dataset": name, "exact": got["exact"], "note": got.get("note", "")}
        identity["files"] = _checksums(name, got["exact"])
        prov_file.write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n")
        source_file.write_text(json.dumps({"source": got["source"]}, indent=2) + "\n")
    return {**json.loads(prov_file.read_text()), **json.loads(source_file.read_text())}


def _checksums(name: str, exact: bool) -> dict:
    """The checksums the real loader verifies (torchvision's MD5s) or, for the stand-in, its name."""
    if name == "cifar10":
        return (
            {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}
            if exact
            else {
                "cifar10_jpeg_q75_LOSSY.zip": "sha256:f7625fc6a42ead0a462a6e36eb4b53cc89da86f36a0e011313c8c9a582622870"
            }
        )
    return {Path(f).name: md5 for f, md5 in _torchvision_idx(name).resources}


def _present(name: str, root: Path) -> bool:
    if name == "cifar10":
        standin = (root / "cifar10_jpeg_LOSSY" / "test.pt").is_file()
        return standin or (root / "cifar-10-batches-py" / "test_batch").is_file()
    folder = root / _torchvision_idx(name).__name__ / "raw"
    return all((folder / f).is_file() for f in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))


def load_split(name: str, root: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) and int64 labels of the official train or test split."""
    root = Path(root)
    if name == "cifar10":
        standin = root / "cifar10_jpeg_LOSSY" / f"{'train' if train else 'test'}.pt"
        if standin.is_file():
            blob = torch.load(standin, weights_only=True)
            return blob["x"], blob["y"].long()
        import torchvision

        ds = torchvision.datasets.CIFAR10(root, train=train, download=False)
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)
    ds = _torchvision_idx(name)(root, train=train, download=False)
    return ds.data.unsqueeze(1), ds.targets.long()


def check_classes(classes, info: DatasetInfo) -> list[int] | None:
    """``classes`` as a list of distinct labels of ``info``'s dataset (None: all of them)."""
    if classes is None:
        return None
    classes = [int(c) for c in classes]
    if (
        not classes
        or len(set(classes)) != len(classes)
        or not all(0 <= c < info.num_classes for c in classes)
    ):
        raise ValueError(f"data.classes must be distinct labels in 0..{info.num_classes - 1}, got {classes}")
    return classes


def num_classes(info: DatasetInfo, classes: list[int] | None) -> int:
    return info.num_classes if classes is None else len(classes)


def select_classes(
    x: torch.Tensor, y: torch.Tensor, classes: list[int] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``classes`` (in their original order), relabelled by position in ``classes``."""
    if classes is None:
        return x, y
    relabel = torch.full((int(y.max()) + 1,), -1, dtype=torch.long)
    relabel[torch.tensor(classes)] = torch.arange(len(classes))
    keep = relabel[y] >= 0
    return x[keep], relabel[y[keep]]


class ImageBatches(torch.utils.data.Dataset):
    """Indexing with a list of indices returns a whole float batch (no per-sample collate)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx):
        return self.x[idx].float().div_(255.0), self.y[idx]


class ShuffledBatches(Sampler[list[int]]):
    """Batches of a seeded per-epoch shuffle, sharded over ranks; resumable via ``set_epoch``."""

    def __init__(
        self, n: int, batch_size: int, seed: int, num_replicas: int = 1, rank: int = 0, shuffle=True
    ):
        self.inner = DistributedSampler(
            range(n), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed
        )
        self.batch_size = batch_size

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def __iter__(self):
        idx = list(self.inner)
        for i in range(0, len(idx), self.batch_size):
            yield idx[i : i + self.batch_size]

    def __len__(self) -> int:
        return -(-len(self.inner) // self.batch_size)


def sharded_batches(datamodule: L.LightningDataModule, n: int, batch_size: int, seed: int) -> ShuffledBatches:
    """This rank's batches of a seeded shuffle of ``n`` items. ``batch_size`` is the global batch: each of the W
    DDP ranks of the datamodule's trainer gets batch_size / W, and a batch the ranks cannot split is refused."""
    trainer = getattr(datamodule, "trainer", None)
    world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
    if batch_size % world:
        raise ValueError(f"data.batch_size={batch_size} is not divisible by the {world} DDP ranks")
    return ShuffledBatches(n, batch_size // world, seed, world, rank)


class VisionDataModule(L.LightningDataModule):
    """A fixed, seeded split of an image dataset.

    ``batch_size`` is the global batch: under DDP each of the W ranks gets batch_size / W.
    ``classes`` keeps only those classes (in every split) and relabels them 0..len(classes)-1 in the
    order given; ``train_size``, ``val_size`` and ``test_size`` then count images of those classes.
    """

    def __init__(
        self,
        name: str = "mnist",
        root: str = "data/raw",
        mirror: str | None = None,
        batch_size: int = 128,
        eval_batch_size: int = 2000,
        train_size: int | None = None,
        val_size: int = 5000,
        test_size: int | None = None,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        classes: list[int] | None = None,
    ):
        super().__init__()
        self.info = _info(name)
        self.classes = check_classes(classes, self.info)
        self.name, self.root, self.mirror = name, root, mirror
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.train_size, self.val_size, self.test_size = train_size, val_size, test_size
        self.split_seed, self.shuffle_seed = split_seed, shuffle_seed
        self.provenance: dict = {}

    @property
    def num_classes(self) -> int:
        return num_classes(self.info, self.classes)

    def prepare_data(self) -> None:
        prepare_dataset(self.name, self.root, self.mirror)

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        self.provenance = prepare_dataset(self.name, self.root, self.mirror)
        x, y = select_classes(*load_split(self.name, self.root, train=True), self.classes)
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.split_seed))
        val_idx, train_idx = perm[: self.val_size], perm[self.val_size :]
        if self.train_size is not None:
            train_idx = train_idx[: self.train_size]
        self.train_set = ImageBatches(x[train_idx], y[train_idx])
        self.val_set = ImageBatches(x[val_idx], y[val_idx])
        tx, ty = select_classes(*load_split(self.name, self.root, train=False), self.classes)
        if self.test_size is not None:  # a seeded random subset: some copies are sorted by class
            keep = torch.randperm(len(ty), generator=torch.Generator().manual_seed(self.split_seed))
            keep = keep[: self.test_size].sort().values
            tx, ty = tx[keep], ty[keep]
        self.test_set = ImageBatches(tx, ty)

    def train_dataloader(self) -> DataLoader:
        sampler = sharded_batches(self, len(self.train_set), self.batch_size, self.shuffle_seed)
        return DataLoader(self.train_set, sampler=sampler, batch_size=None)

    def _eval_loader(self, ds) -> DataLoader:
        sampler = ShuffledBatches(len(ds), self.eval_batch_size, 0, shuffle=False)
        return DataLoader(ds, sampler=sampler, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)
