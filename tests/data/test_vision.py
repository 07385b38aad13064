import hashlib
import io
import json
import shutil
import zipfile

import pytest
import torch
from PIL import Image

from subspacelab.data import DataUnavailableError, prepare_dataset, vision
from subspacelab.data.vision import CIFAR10_CLASSES, ShuffledBatches, VisionDataModule


def test_mnist_comes_from_the_mirror_and_is_verified_by_torchvision(tmp_path):
    prov = prepare_dataset("mnist", tmp_path)
    assert prov["exact"] and prov["source"] in {"local", "mirror", "download"}
    assert json.loads((tmp_path / "mnist.provenance.json").read_text())["dataset"] == "mnist"
    x, y = vision.load_split("mnist", tmp_path, train=False)
    assert x.shape == (10_000, 1, 28, 28) and x.dtype == torch.uint8
    assert torch.bincount(y).tolist()[:2] == [980, 1135]  # the official test split


def test_without_network_or_mirror_the_error_says_how_to_get_the_data(tmp_path, monkeypatch):
    monkeypatch.setattr(vision, "mirror_root", lambda configured=None: None)

    def no_network(*a, **k):
        raise OSError("network unreachable")

    import torchvision

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", no_network)
    with pytest.raises(DataUnavailableError, match="SUBSPACELAB_DATA_MIRROR"):
        prepare_dataset("fashion_mnist", tmp_path / "empty")


def test_cifar10_offline_uses_the_lossy_standin_and_says_so(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror" / "cifar10_jpeg_LOSSY"
    mirror.mkdir(parents=True)
    with zipfile.ZipFile(mirror / "cifar10_jpeg_q75_LOSSY.zip", "w") as zf:
        for split in ("train", "test"):
            for c in CIFAR10_CLASSES[:3]:
                buf = io.BytesIO()
                Image.new("RGB", (32, 32), (len(c) * 10, 0, 0)).save(buf, "JPEG")
                zf.writestr(f"{split}/{c}/0000.jpg", buf.getvalue())

    import torchvision

    def no_network(*a, **k):
        raise RuntimeError("offline")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", no_network)
    fake_sha = hashlib.sha256((mirror / "cifar10_jpeg_q75_LOSSY.zip").read_bytes()).hexdigest()
    monkeypatch.setattr(vision, "CIFAR10_STANDIN_SHA256", fake_sha)  # this fake zip is the "published" one
    prov = prepare_dataset("cifar10", tmp_path / "raw", mirror=tmp_path / "mirror")
    assert prov["exact"] is False and "lossy" in prov["note"].lower()
    assert set(prov["content"]) == {"cifar10_jpeg_LOSSY/train.pt", "cifar10_jpeg_LOSSY/test.pt"}
    assert prov["files"] == {"cifar10_jpeg_q75_LOSSY.zip": f"sha256:{fake_sha}"}
    x, y = vision.load_split("cifar10", tmp_path / "raw", train=True)
    assert x.shape == (3, 3, 32, 32) and sorted(y.tolist()) == [0, 1, 2]
    shutil.rmtree(
        tmp_path / "raw" / "cifar10_jpeg_LOSSY"
    )  # rebuilt from the zip: the same bytes, same record
    assert (
        prepare_dataset("cifar10", tmp_path / "raw", mirror=tmp_path / "mirror")["content"] == prov["content"]
    )


def test_shuffled_batches_are_seeded_per_epoch_and_shard_over_ranks():
    a = ShuffledBatches(10, 3, seed=0)
    a.set_epoch(1)
    e1 = list(a)
    a.set_epoch(1)
    assert list(a) == e1  # a resumed epoch sees the same order
    a.set_epoch(2)
    assert list(a) != e1
    shards = [sum(ShuffledBatches(10, 5, seed=0, num_replicas=2, rank=r), []) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(10))


def test_a_test_subset_covers_every_class_even_when_the_files_are_sorted_by_class(monkeypatch):
    x = torch.zeros(1000, 1, 28, 28, dtype=torch.uint8)
    y = torch.arange(10).repeat_interleave(100)  # sorted by class, like the CIFAR-10 stand-in
    monkeypatch.setattr(vision, "load_split", lambda name, root, train: (x, y))
    monkeypatch.setattr(vision, "prepare_dataset", lambda *a, **k: {})
    dm = VisionDataModule("mnist", val_size=100, test_size=100)
    dm.setup()
    assert len(dm.test_set) == 100 and len(torch.unique(dm.test_set.y)) == 10


def test_splits_are_fixed_by_the_split_seed():
    def val_labels(seed):
        dm = VisionDataModule("mnist", train_size=100, val_size=50, split_seed=seed)
        dm.setup()
        return dm.val_set.y

    # pinned labels of the first validation images: the split is a function of split_seed alone
    assert val_labels(0)[:12].tolist() == [9, 3, 5, 4, 7, 4, 9, 6, 8, 8, 7, 4]
    assert val_labels(1)[:12].tolist() == [7, 7, 0, 7, 2, 0, 1, 5, 0, 1, 2, 3]


def test_a_class_subset_keeps_only_those_classes_relabelled_in_the_given_order(monkeypatch):
    index = torch.arange(1000)
    x = torch.zeros(1000, 1, 28, 28, dtype=torch.uint8)
    x[:, 0, 0, 0], x[:, 0, 0, 1] = index % 256, index // 256  # each image carries its index in the full set
    y = torch.arange(10).repeat(100)
    monkeypatch.setattr(vision, "load_split", lambda name, root, train: (x, y))
    monkeypatch.setattr(vision, "prepare_dataset", lambda *a, **k: {})
    dm = VisionDataModule("mnist", val_size=50, test_size=60, classes=[7, 2])
    dm.setup()
    assert dm.num_classes == 2
    for split in (dm.train_set, dm.val_set, dm.test_set):
        original = y[split.x[:, 0, 0, 0].long() + 256 * split.x[:, 0, 0, 1].long()]
        assert set(split.y.tolist()) == {0, 1}
        assert torch.equal(original, torch.tensor([7, 2])[split.y])
    assert len(dm.train_set) + len(dm.val_set) == 200 and len(dm.test_set) == 60


@pytest.mark.parametrize("classes", [[], [3, 3], [10], [-1]])
def test_an_invalid_class_subset_is_refused(classes):
    with pytest.raises(ValueError, match="data.classes"):
        VisionDataModule("mnist", classes=classes)
