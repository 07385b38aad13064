"""Image classification data: MNIST, Fashion-MNIST (torchvision, byte-exact in the mirror) and CIFAR-10
(torchvision online; offline only the mirror's lossy JPEG stand-in, flagged as such).

Images are held in memory as uint8 tensors and served as float batches in [0, 1] (the paper's code
does no mean subtraction). Splits are fixed by ``split_seed``: a validation set is cut from the
official training set, the reported accuracy is on the official test set.

Every prepared file is hashed (SHA-256) into ``data/raw/<name>.provenance.json`` and checked again each
time the data is set up, so a zeroed or truncated file stops a run with a one-line
:class:`~subspacelab.data.integrity.DataIntegrityError` instead of training on it (see ``integrity``).
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from subspacelab.data.integrity import check_published, describe, is_exact, sha256_file, verify
from subspacelab.data.mirror import (
    DataUnavailableError,
    how_to_get,
    intact_mirror_file,
    mirror_corrupt,
    mirror_root,
)
from subspacelab.data.published import CIFAR10_STANDIN_SHA256, PUBLISHED_SHA256


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

STANDIN_DIR = "cifar10_jpeg_LOSSY"
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


def _copy_atomic(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _fetch_idx(name: str, root: Path, mirror: Path | None) -> str:
    """Fill ``root`` with the IDX files (mirror first, then torchvision's download); return the source.

    A mirror ``.gz`` is copied only if its SHA-256 is the published one; torchvision then extracts (and
    downloads what is still missing, checking its MD5). Without network, a corrupt mirror file is the error.
    """
    cls, published = _torchvision_idx(name), PUBLISHED_SHA256[name]
    corrupt, copied = None, False
    for rel, want in published.items():
        src = mirror / name / rel if mirror is not None else None
        if not rel.endswith(".gz") or src is None or not src.is_file():
            continue
        got = intact_mirror_file(src, want)
        if got is not None:
            corrupt = corrupt or mirror_corrupt(name, src, got, want)
            continue
        _copy_atomic(src, root / rel)
        copied = True
    gz_ok = all(
        (root / rel).is_file() and sha256_file(root / rel) == want
        for rel, want in published.items()
        if rel.endswith(".gz")
    )
    try:  # torchvision checks the MD5 of the .gz files and only extracts when they are present
        cls(root, train=True, download=True)
        cls(root, train=False, download=True)
    except Exception as err:  # noqa: BLE001 - any failure means: no data
        if corrupt is not None:
            raise corrupt from None
        raise DataUnavailableError(how_to_get(name, _info(name).mirror_layout)) from err
    return ("mirror" if copied else "local") if gz_ok else "download"


def _fetch_cifar10(root: Path, mirror: Path | None) -> str:
    """Real CIFAR-10 through torchvision, else the mirror's stand-in decoded to ``cifar10_jpeg_LOSSY/*.pt``."""
    import torchvision

    try:
        torchvision.datasets.CIFAR10(root, train=True, download=True)
        torchvision.datasets.CIFAR10(root, train=False, download=True)
        return "torchvision"
    except Exception as err:  # noqa: BLE001
        zip_path = mirror / _info("cifar10").mirror_layout if mirror else None
        if zip_path is None or not zip_path.is_file():
            raise DataUnavailableError(how_to_get("cifar10", _info("cifar10").mirror_layout)) from err
    got = intact_mirror_file(zip_path, CIFAR10_STANDIN_SHA256)
    if got is not None:
        raise mirror_corrupt("cifar10", zip_path, got, CIFAR10_STANDIN_SHA256)
    out = root / STANDIN_DIR
    out.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    with zipfile.ZipFile(zip_path) as zf:
        for split in ("train", "test"):
            names = sorted(n for n in zf.namelist() if n.startswith(f"{split}/") and n.endswith(".jpg"))
            x = np.stack([np.asarray(Image.open(zf.open(n)).convert("RGB")) for n in names])
            y = np.array([CIFAR10_CLASSES.index(n.split("/")[1]) for n in names])
            tmp = (
                out / f".tmp-{os.getpid()}" / f"{split}.pt"
            )  # same file name: torch.save names its archive by it
            tmp.parent.mkdir(exist_ok=True)
            torch.save(
                {"x": torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), "y": torch.from_numpy(y)}, tmp
            )
            os.replace(tmp, out / f"{split}.pt")
            tmp.parent.rmdir()
    return "mirror"


def _uses_standin(root: Path) -> bool:
    return (root / STANDIN_DIR / "test.pt").is_file()


def _files(name: str, root: Path) -> list[str]:
    """The files (relative to ``root``) the prepared copy consists of: what is hashed and recorded."""
    if name != "cifar10":
        return [rel for rel in PUBLISHED_SHA256[name] if (root / rel).is_file()]
    if _uses_standin(root):
        return [f"{STANDIN_DIR}/train.pt", f"{STANDIN_DIR}/test.pt"]
    import torchvision

    cls = torchvision.datasets.CIFAR10
    batches = [f"{cls.base_folder}/{f}" for f, _ in cls.train_list + cls.test_list]
    extra = [f"{cls.base_folder}/{cls.meta['filename']}", cls.filename]
    return batches + [rel for rel in extra if (root / rel).is_file()]


def _exactness(name: str, root: Path, content: dict) -> tuple[bool, str]:
    """``exact``: every file matches a published checksum (SHA-256; torchvision's MD5s for real CIFAR-10)."""
    if name != "cifar10":
        return is_exact(content, PUBLISHED_SHA256[name]), ""
    if _uses_standin(root):
        return False, STANDIN_NOTE
    import torchvision
    from torchvision.datasets.utils import check_integrity

    cls = torchvision.datasets.CIFAR10
    folder = root / cls.base_folder
    return all(check_integrity(str(folder / f), md5) for f, md5 in cls.train_list + cls.test_list), ""


def _checksums(name: str, root: Path) -> dict:
    """The checksums the real loader verifies (torchvision's MD5s) or, for the stand-in, its published SHA-256."""
    if name == "cifar10":
        if _uses_standin(root):
            return {"cifar10_jpeg_q75_LOSSY.zip": f"sha256:{CIFAR10_STANDIN_SHA256}"}
        return {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}
    return {Path(f).name: md5 for f, md5 in _torchvision_idx(name).resources}


def _present(name: str, root: Path) -> bool:
    """Whether the files training reads exist (their content is checked separately)."""
    if name == "cifar10":
        return _uses_standin(root) or (root / "cifar-10-batches-py" / "test_batch").is_file()
    return all((root / rel).is_file() for rel in PUBLISHED_SHA256[name] if not rel.endswith(".gz"))


def _fix(name: str, root: Path) -> str:
    """How to recover from a bad prepared copy: delete it and prepare it again."""
    if name == "cifar10":
        folder = root / (STANDIN_DIR if _uses_standin(root) else "cifar-10-batches-py")
    else:
        folder = root / _torchvision_idx(name).__name__
    where = "" if root == Path("data/raw") else f" --root {root}"
    return f"delete {folder} and rerun `python -m subspacelab.pipeline.prepare {name}{where}` (or make reproduce-paper)"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_if_changed(path: Path, record: dict) -> None:
    """Write ``record`` atomically, and only when it differs (DVC tracks the file: no needless touch)."""
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    if path.is_file() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def prepare_dataset(name: str, root: str | Path = "data/raw", mirror: str | Path | None = None) -> dict:
    """Make ``name`` available under ``root``, check its content and describe it.

    Two records are written: ``<name>.provenance.json`` says *what* the data is (the DVC dependency of every
    train stage: identical whether the files came from the network or a mirror), including the size and
    SHA-256 of every file (``content``); ``<name>.source.json`` says where they came from on this machine.
    Once recorded, every call re-hashes the files and compares them with the record (and the published
    SHA-256s): a zeroed or truncated file raises :class:`DataIntegrityError` naming it, before any training.
    ``exact`` is true only when every file matches a published checksum; a file that has a published SHA-256
    and differs from it is refused.
    """
    root = Path(root)
    _info(name)
    prov_file, source_file = _provenance_path(root, name), root / f"{name}.source.json"
    record, fix = _read_json(prov_file), _fix(name, root)
    published = PUBLISHED_SHA256.get(name, {})
    if record.get("content") and source_file.is_file() and _present(name, root):
        verify(root, record["content"], f"the prepared record {prov_file}", fix)
        check_published(root, record["content"], published, fix)
        return {**record, **_read_json(source_file)}
    root.mkdir(parents=True, exist_ok=True)
    if _present(name, root):
        source = _read_json(source_file).get("source", "local")
    else:
        mirror_dir = mirror_root(mirror)
        source = _fetch_cifar10(root, mirror_dir) if name == "cifar10" else _fetch_idx(name, root, mirror_dir)
    content = describe(root, _files(name, root))
    check_published(root, content, published, _fix(name, root))
    exact, note = _exactness(name, root, content)
    identity = {
        "dataset": name,
        "exact": exact,
        "note": note,
        "files": _checksums(name, root),
        "content": content,
    }
    _write_if_changed(prov_file, identity)
    _write_if_changed(source_file, {"source": source})
    return {**identity, "source": source}


def load_split(name: str, root: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) and int64 labels of the official train or test split."""
    root = Path(root)
    if name == "cifar10":
        standin = root / STANDIN_DIR / f"{'train' if train else 'test'}.pt"
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
