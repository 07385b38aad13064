"""Prepared image data is verified by content: a zeroed or truncated file, or a corrupt mirror file, stops
the run with a one-line error naming the file; intact data passes and is ``exact``."""

import json
import re
import shutil
from pathlib import Path

import pytest

from subspacelab.data import DataUnavailableError, mirror_root, prepare_dataset, vision
from subspacelab.data.integrity import DataIntegrityError, sha256_file
from subspacelab.data.published import CIFAR10_STANDIN_SHA256, PUBLISHED_SHA256
from subspacelab.data.vision import VisionDataModule
from subspacelab.pipeline import prepare

MIRROR = mirror_root(None)
needs_mirror = pytest.mark.skipif(
    MIRROR is None or not (MIRROR / "mnist").is_dir(), reason="no offline mirror with MNIST"
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """MNIST prepared once from the mirror into a temporary root (the tests corrupt copies of it)."""
    if MIRROR is None or not (MIRROR / "mnist").is_dir():
        pytest.skip("no offline mirror with MNIST")
    root = tmp_path_factory.mktemp("prepared")
    prepare_dataset("mnist", root, MIRROR)
    return root


@pytest.fixture
def copy(prepared, tmp_path) -> Path:
    root = tmp_path / "raw"
    shutil.copytree(prepared, root)
    return root


def _zero(path: Path, start: int = 16, n: int = 30_000_000) -> None:
    with path.open("r+b") as f:
        f.seek(start)
        f.write(bytes(min(n, path.stat().st_size - start)))


@needs_mirror
def test_intact_data_is_recorded_by_content_and_is_exact(copy):
    prov = prepare_dataset("mnist", copy)
    assert prov["exact"] is True and prov["source"] == "mirror"
    assert {rel: e["sha256"] for rel, e in prov["content"].items()} == PUBLISHED_SHA256["mnist"]
    record = json.loads((copy / "mnist.provenance.json").read_text())
    assert record["content"] == prov["content"]  # what DVC tracks holds the hashes
    assert set(record["files"]) == {
        "train-images-idx3-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }  # kept key


@needs_mirror
def test_zeroed_training_images_fail_before_training_naming_the_file(copy):
    target = copy / "MNIST" / "raw" / "train-images-idx3-ubyte"
    _zero(target)
    dm = VisionDataModule("mnist", root=str(copy), val_size=100)
    with pytest.raises(DataIntegrityError) as err:
        dm.setup()
    message = str(err.value)
    assert str(target) in message and sha256_file(target) in message
    assert PUBLISHED_SHA256["mnist"]["MNIST/raw/train-images-idx3-ubyte"] in message
    assert f"delete {copy / 'MNIST'}" in message and "\n" not in message
    assert not hasattr(dm, "train_set")


@needs_mirror
def test_a_truncated_extracted_file_fails_prepare_naming_it(copy):
    target = copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    with target.open("r+b") as f:
        f.truncate(1_000_000)
    with pytest.raises(
        DataIntegrityError, match=r"t10k-images-idx3-ubyte fails its checksum.*\(1000000 bytes\)"
    ):
        prepare_dataset("mnist", copy)


@needs_mirror
def test_corrupt_data_under_an_old_record_without_hashes_is_refused_not_recorded_exact(copy):
    """The operator's case: a record with MD5s only, zeroed images on disk -> refused by the published SHA-256."""
    record_file = copy / "mnist.provenance.json"
    old = json.loads(record_file.read_text())
    del old["content"]
    record_file.write_text(json.dumps(old))
    _zero(copy / "MNIST" / "raw" / "train-images-idx3-ubyte")
    with pytest.raises(
        DataIntegrityError, match=r"train-images-idx3-ubyte fails its checksum.*published ba891046"
    ):
        prepare_dataset("mnist", copy)
    assert "content" not in json.loads(record_file.read_text())  # nothing was recorded for the bad copy


@needs_mirror
def test_the_prepare_cli_exits_2_with_one_line_naming_the_file(copy, capsys):
    _zero(copy / "MNIST" / "raw" / "train-labels-idx1-ubyte", start=8, n=100)
    with pytest.raises(SystemExit) as stop:
        prepare.main(["mnist", "--root", str(copy)])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1
    assert "train-labels-idx1-ubyte fails its checksum" in err and "rerun" in err


@needs_mirror
def test_a_deleted_copy_is_prepared_again_with_the_same_record(copy):
    before = (copy / "mnist.provenance.json").read_text()
    shutil.rmtree(copy / "MNIST")
    prov = prepare_dataset("mnist", copy, MIRROR)
    assert prov["exact"] and (copy / "mnist.provenance.json").read_text() == before  # DVC sees no change


def test_a_corrupt_mirror_file_is_named_as_such_not_as_absent(tmp_path, monkeypatch):
    import torchvision

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    bad = tmp_path / "mirror" / "mnist" / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x1f\x8b not really the images")
    with pytest.raises(DataIntegrityError) as err:
        prepare_dataset("mnist", tmp_path / "raw", tmp_path / "mirror")
    message = str(err.value)
    assert f"the mirror's copy {bad} fails its checksum" in message
    assert PUBLISHED_SHA256["mnist"]["MNIST/raw/train-images-idx3-ubyte.gz"] in message
    assert "no mirror has it" not in message
    assert not (tmp_path / "raw" / "MNIST" / "raw" / bad.name).exists()  # the bad copy was not taken


def test_with_no_copy_anywhere_the_error_says_missing(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(
        torchvision.datasets.MNIST, "download", lambda *a, **k: (_ for _ in ()).throw(OSError())
    )
    (tmp_path / "mirror").mkdir()
    with pytest.raises(DataUnavailableError, match="no mirror has it"):
        prepare_dataset("mnist", tmp_path / "raw", tmp_path / "mirror")


def test_a_corrupt_cifar10_standin_zip_is_refused_as_a_corrupt_mirror_file(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(
        torchvision.datasets, "CIFAR10", lambda *a, **k: (_ for _ in ()).throw(RuntimeError())
    )
    zip_path = tmp_path / "mirror" / "cifar10_jpeg_LOSSY" / "cifar10_jpeg_q75_LOSSY.zip"
    zip_path.parent.mkdir(parents=True)
    zip_path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(
        DataIntegrityError, match=rf"mirror's copy .*q75_LOSSY\.zip fails.*{CIFAR10_STANDIN_SHA256}"
    ):
        prepare_dataset("cifar10", tmp_path / "raw", tmp_path / "mirror")
    assert not (tmp_path / "raw" / "cifar10_jpeg_LOSSY").exists()


@needs_mirror
def test_the_published_hashes_are_those_of_the_mirror_manifest():
    manifest = (MIRROR / "MANIFEST.md").read_text()
    listed = dict(re.findall(r"\| `([^`]+)` \| [\d,]+ \| `([0-9a-f]{64})` \|", manifest))
    for name, table in PUBLISHED_SHA256.items():
        assert table == {rel: listed[f"{name}/{rel}"] for rel in table}
    assert listed["cifar10_jpeg_LOSSY/cifar10_jpeg_q75_LOSSY.zip"] == CIFAR10_STANDIN_SHA256
    assert vision.PUBLISHED_SHA256 is PUBLISHED_SHA256
