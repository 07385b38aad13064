"""The prepare stage of a .mat benchmark records the hash of the file the loaders read."""

import json

import pytest

from subspacelab.clustering.graphs import MAT_GRAPHS, sha256
from subspacelab.data.mirror import mirror_root
from subspacelab.pipeline import prepare


def test_a_mat_record_holds_the_files_hash_and_says_if_it_is_the_published_one(tmp_path):
    if mirror_root(None) is None:
        pytest.skip("no offline mirror (../shared/datasets or $SUBSPACELAB_DATA_MIRROR)")
    prepare.main(["--mat", "cora", "orl", "--root", str(tmp_path)])
    cora = json.loads((tmp_path / "mat" / "cora.provenance.json").read_text())
    assert cora["sha256"] == sha256(mirror_root(None) / MAT_GRAPHS["cora"][0]) == MAT_GRAPHS["cora"][1]
    assert cora["exact"] is True and cora["path"] == "graphs/agc/cora.mat"
    assert json.loads((tmp_path / "mat" / "orl.provenance.json").read_text())["exact"] is True


def test_a_missing_mat_file_says_how_to_get_it_in_one_line_with_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty_mirror"
    empty.mkdir()
    with pytest.raises(SystemExit) as stop:
        prepare.main(["--mat", "acm", "--root", str(tmp_path / "raw"), "--mirror", str(empty)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "graphs/s2cag/acm.mat" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "raw").exists()


def test_a_corrupt_mirror_file_exits_2_with_one_line_saying_so(tmp_path, capsys, monkeypatch):
    import torchvision

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", offline)
    bad = tmp_path / "mirror" / "fashion_mnist" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the labels")
    with pytest.raises(SystemExit) as stop:
        prepare.main(["fashion_mnist", "--root", str(tmp_path / "raw"), "--mirror", str(tmp_path / "mirror")])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1
    assert f"the mirror's copy {bad} fails its checksum" in err


def test_a_data_integrity_error_is_a_user_error_of_every_entry_point():
    from subspacelab.data.integrity import DataIntegrityError
    from subspacelab.errors import one_line

    assert one_line(DataIntegrityError("data/raw/x fails its checksum: delete it")) == (
        "data/raw/x fails its checksum: delete it"
    )
