"""Content checks of prepared files: hashes recorded, re-checked, and ``exact`` only for published bytes."""

import hashlib

import pytest

from subspacelab.data.integrity import DataIntegrityError, check_published, describe, is_exact, verify


@pytest.fixture
def files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.bin").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "b.bin").write_bytes(b"labels\n" * 100)
    return tmp_path


def test_describe_records_the_size_and_sha256_of_each_file(files):
    content = describe(files, ["sub/a.bin", "b.bin"])
    assert list(content) == ["b.bin", "sub/a.bin"]  # sorted: the same record every time
    assert content["sub/a.bin"] == {
        "bytes": 10240,
        "sha256": hashlib.sha256(bytes(range(256)) * 40).hexdigest(),
    }


def test_intact_files_pass(files):
    verify(files, describe(files, ["sub/a.bin", "b.bin"]), "the record", "redo it")


def test_a_zeroed_range_of_the_same_size_fails_naming_the_file_and_both_hashes(files):
    content = describe(files, ["sub/a.bin", "b.bin"])
    with (files / "sub" / "a.bin").open("r+b") as f:
        f.seek(16)
        f.write(bytes(1000))
    now = hashlib.sha256((files / "sub" / "a.bin").read_bytes()).hexdigest()
    with pytest.raises(DataIntegrityError) as err:
        verify(files, content, "the record", "delete it and rerun")
    message = str(err.value)
    assert str(files / "sub" / "a.bin") in message and "\n" not in message
    assert (
        now in message
        and content["sub/a.bin"]["sha256"] in message
        and message.endswith("delete it and rerun")
    )


def test_a_truncated_file_fails_and_the_message_gives_both_sizes(files):
    content = describe(files, ["sub/a.bin"])
    with (files / "sub" / "a.bin").open("r+b") as f:
        f.truncate(100)
    with pytest.raises(
        DataIntegrityError, match=r"a\.bin fails its checksum.*\(100 bytes\).*\(10240 bytes\)"
    ):
        verify(files, content, "the record", "fix")


def test_a_missing_file_is_reported_as_missing_not_as_a_checksum_failure(files):
    content = describe(files, ["b.bin"])
    (files / "b.bin").unlink()
    with pytest.raises(DataIntegrityError, match=r"b\.bin is missing \(the record lists it\)"):
        verify(files, content, "the record", "fix")


def test_exact_only_when_every_file_matches_a_published_hash(files):
    content = describe(files, ["sub/a.bin", "b.bin"])
    published = {rel: entry["sha256"] for rel, entry in content.items()}
    assert is_exact(content, published)
    assert not is_exact(content, {"sub/a.bin": published["sub/a.bin"]})  # b.bin has no published hash
    assert not is_exact(content, {**published, "b.bin": "0" * 64})
    assert not is_exact({}, published)  # nothing recorded is not exact


def test_a_file_differing_from_its_published_hash_is_refused(files):
    content = describe(files, ["sub/a.bin", "b.bin"])
    check_published(files, content, {"sub/a.bin": content["sub/a.bin"]["sha256"]}, "fix")  # b.bin: none
    with pytest.raises(DataIntegrityError, match=r"b\.bin fails its checksum.*published 1111"):
        check_published(files, content, {"b.bin": "1" * 64}, "fix")
