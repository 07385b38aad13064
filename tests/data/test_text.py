import json
import sys
import types
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from subspacelab.data import DataUnavailableError, mirror_root, text
from subspacelab.data.integrity import DataIntegrityError
from subspacelab.data.text import (
    CORPORA,
    STDLIB_FILES,
    ByteTokenizer,
    LMDataModule,
    TokenBlocks,
    cached_tokenizer,
    encode_corpus,
    load_corpus,
    load_tokenizer,
    prepare_corpus,
    split_text,
    train_bpe_tokenizer,
)
from subspacelab.data.vision import ShuffledBatches

MIRROR = str(mirror_root() or "/no-mirror")  # ../shared/datasets or $SUBSPACELAB_DATA_MIRROR
UNSEEN = "Ünïcödé ✓ 𝔘 — naïve café\n\tdef f(x):  return x ** 2  # tabs, spaces\n\n<|endoftext|> end"

pytestmark = pytest.mark.skipif(not Path(MIRROR, text.SHAKESPEARE_LAYOUT).is_file(), reason="no text mirror")


@pytest.fixture(scope="module")
def shakespeare(tmp_path_factory) -> str:
    return load_corpus("tinyshakespeare", tmp_path_factory.mktemp("raw"), MIRROR)[0]


def test_the_mirror_copy_is_the_pinned_file_and_is_cached_under_root(tmp_path):
    txt, prov = load_corpus("tinyshakespeare", tmp_path, MIRROR)
    assert prov["fetched_from"] == "mirror" and prov["sha256"] == text.SHAKESPEARE_SHA256
    assert prov["n_chars"] == len(txt) == 1_115_394 and txt.startswith("First Citizen:")
    assert load_corpus("tinyshakespeare", tmp_path, MIRROR)[1]["fetched_from"] == "local"


def test_without_mirror_or_network_the_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "mirror_root", lambda configured=None: None)

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataUnavailableError, match="SUBSPACELAB_DATA_MIRROR.*text/tinyshakespeare/input.txt"):
        load_corpus("tinyshakespeare", tmp_path)
    assert not (tmp_path / "tinyshakespeare").exists()


def test_a_mirror_file_with_the_wrong_content_is_refused_as_a_corrupt_mirror_copy(tmp_path, monkeypatch):
    fake = tmp_path / "mirror" / text.SHAKESPEARE_LAYOUT
    fake.parent.mkdir(parents=True)
    fake.write_text("To be, or not to be\n")

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataIntegrityError, match=f"the mirror's copy {fake} fails its checksum.*published"):
        load_corpus("tinyshakespeare", tmp_path / "raw", tmp_path / "mirror")
    assert not (tmp_path / "raw" / "tinyshakespeare").exists()


def test_a_corrupt_local_copy_of_the_corpus_is_refused_naming_it(tmp_path):
    load_corpus("tinyshakespeare", tmp_path, MIRROR)
    local = tmp_path / "tinyshakespeare" / "input.txt"
    local.write_bytes(local.read_bytes()[:1000])  # truncated
    with pytest.raises(DataIntegrityError, match=rf"{local} fails its checksum.*\(1000 bytes\).*published"):
        load_corpus("tinyshakespeare", tmp_path, MIRROR)


def test_the_prepared_record_holds_the_hashes_and_a_truncated_token_cache_is_refused(tmp_path):
    prov = prepare_corpus("tinyshakespeare", tmp_path, MIRROR, "byte")
    record = json.loads((tmp_path / "tokenizers" / "tinyshakespeare-byte256.provenance.json").read_text())
    caches = sorted(rel for rel in record["content"] if rel.endswith(".pt"))
    assert record["content"] == prov["content"] and len(caches) == 2
    assert record["content"]["tinyshakespeare/input.txt"]["sha256"] == text.SHAKESPEARE_SHA256
    cache = tmp_path / caches[0]
    with cache.open("r+b") as f:
        f.truncate(cache.stat().st_size // 2)
    dm = LMDataModule("tinyshakespeare", root=str(tmp_path), mirror=MIRROR, tokenizer="byte", seq_len=32)
    with pytest.raises(DataIntegrityError, match=rf"{cache} fails its checksum.*prepared record"):
        dm.setup()
    cache.unlink()  # an absent cache is rebuilt from the corpus, to the same bytes
    dm.setup()
    assert dm.provenance["content"] == record["content"]


def test_hf_corpus_offline_is_a_clear_data_error(tmp_path, monkeypatch):
    def load_dataset(*a, **k):
        raise ConnectionError("offline")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(
        DataUnavailableError, match=r"load_dataset\('wikitext', 'wikitext-2-raw-v1'\).*offline"
    ):
        load_corpus("hf:wikitext:wikitext-2-raw-v1", tmp_path)


def test_hf_corpus_joins_train_then_validation_rows(tmp_path, monkeypatch):
    class Split:
        column_names = ["text"]

        def __init__(self, rows):
            self.rows = rows

        def __getitem__(self, col):
            return self.rows

    ds = {"train": Split([" = A = \n", "b"]), "validation": Split(["c\n"])}
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=lambda *a, **k: ds))
    assert load_corpus("hf:toy", tmp_path)[0] == " = A = \nb\nc\n"


def test_unknown_corpus_lists_the_valid_ones(tmp_path):
    for bad in ("shakespeare", "hf:"):
        with pytest.raises(KeyError, match="tinyshakespeare, python_stdlib, hf:<dataset>"):
            load_corpus(bad, tmp_path)
    with pytest.raises(KeyError, match="valid"):
        LMDataModule("wikitext")
    assert CORPORA == ("tinyshakespeare", "python_stdlib")


def test_stdlib_files_are_pinned_sorted_and_all_present(monkeypatch):
    assert 40 <= len(STDLIB_FILES) <= 80 and list(STDLIB_FILES) == sorted(set(STDLIB_FILES))
    txt, prov = load_corpus("python_stdlib")
    assert all(txt.count(text.STDLIB_SEPARATOR.format(f)) == 1 for f in STDLIB_FILES)
    assert prov["files"] == list(STDLIB_FILES) and 1_000_000 < prov["n_chars"] < 10_000_000
    monkeypatch.setattr(text, "STDLIB_FILES", (*STDLIB_FILES, "no_such_module.py"))
    with pytest.raises(DataUnavailableError, match="no_such_module.py"):
        load_corpus("python_stdlib")


def test_validation_is_the_tail_cut_at_a_newline(shakespeare):
    train, val = split_text(shakespeare, 0.1)
    assert train + val == shakespeare and train.endswith("\n")
    assert 0.1 <= len(val) / len(shakespeare) < 0.1 + 200 / len(shakespeare)  # moved back < one line
    assert split_text("abcdef", 0.5) == ("abc", "def")  # no newline: a plain character cut
    with pytest.raises(ValueError):
        split_text(shakespeare, 0.0)


def test_byte_tokenizer_is_utf8_and_round_trips():
    tok = load_tokenizer("byte")
    assert isinstance(tok, ByteTokenizer) and tok.vocab_size == 256
    assert tok.encode("é€") == [0xC3, 0xA9, 0xE2, 0x82, 0xAC]
    assert tok.decode(tok.encode(UNSEEN)) == UNSEEN


def test_bpe_round_trips_unseen_text_and_compresses(tmp_path, shakespeare):
    train, val = split_text(shakespeare, 0.1)
    tok = load_tokenizer("bpe", train_bpe_tokenizer(train[:200_000], 300, tmp_path / "t.json"))
    assert tok.vocab_size == 300 and tok.eot_id is not None
    for s in (UNSEEN, val[:5000], "x"):
        assert tok.decode(tok.encode(s)) == s
    assert len(tok.encode(val[:5000])) < 0.8 * len(val[:5000].encode())  # merges are used on unseen text
    assert max(tok.encode(UNSEEN)) < tok.vocab_size


def test_bpe_training_is_deterministic(tmp_path, shakespeare):
    piece = shakespeare[:100_000]
    a = train_bpe_tokenizer(piece, 320, tmp_path / "a.json").read_bytes()
    b = train_bpe_tokenizer(piece, 320, tmp_path / "b.json").read_bytes()
    c = train_bpe_tokenizer(piece, 330, tmp_path / "c.json").read_bytes()
    assert a == b and a != c
    with pytest.raises(ValueError, match="257"):
        train_bpe_tokenizer(piece, 256, tmp_path / "d.json")


def test_cached_tokenizer_trains_once_on_the_train_split(tmp_path, monkeypatch):
    calls = []
    real = text.train_bpe_tokenizer
    monkeypatch.setattr(text, "train_bpe_tokenizer", lambda t, v, p: calls.append(t) or real(t, v, p))
    path = cached_tokenizer("tinyshakespeare", "bpe", 300, tmp_path, MIRROR)
    assert path == tmp_path / "tokenizers" / "tinyshakespeare-bpe300.json" and path.is_file()
    assert cached_tokenizer("tinyshakespeare", "bpe", 300, tmp_path, MIRROR) == path
    full = load_corpus("tinyshakespeare", tmp_path)[0]
    assert calls == [split_text(full, 0.1)[0]]
    assert cached_tokenizer("tinyshakespeare", "byte", 300, tmp_path, MIRROR) is None


def test_encoding_is_cached_and_not_redone(tmp_path):
    tok = ByteTokenizer()
    ids = encode_corpus("hello\nworld\n", tok, tmp_path, "toy", "train", "byte")
    assert ids.dtype == torch.int32 and ids.tolist() == list(b"hello\nworld\n")
    assert len(list(tmp_path.glob("toy.train.*.pt"))) == 1

    class Exploding(ByteTokenizer):
        def encode_batch(self, texts):
            raise AssertionError("re-tokenized")

    assert torch.equal(encode_corpus("hello\nworld\n", Exploding(), tmp_path, "toy", "train", "byte"), ids)
    other = encode_corpus("hello\nworld\n", tok, tmp_path, "toy", "val", "byte")  # another key: a new file
    assert torch.equal(other, ids) and len(list(tmp_path.glob("toy.*.pt"))) == 2


def test_targets_are_inputs_shifted_by_one_and_blocks_tile_the_stream():
    tokens = torch.arange(50, dtype=torch.int32) * 7 % 23
    blocks = TokenBlocks(tokens, seq_len=5)
    assert len(blocks) == 50 // 6
    x, y = blocks[list(range(len(blocks)))]
    assert x.dtype == y.dtype == torch.long and x.shape == y.shape == (8, 5)
    assert torch.equal(x[:, 1:], y[:, :-1])
    full = torch.cat([x, y[:, -1:]], dim=1)  # each block of seq_len + 1 tokens
    assert torch.equal(full.flatten(), tokens[:48].long())  # consecutive, disjoint, in order
    with pytest.raises(ValueError, match="too few"):
        TokenBlocks(tokens[:5], seq_len=5)


def _rows(loader) -> list[tuple[int, ...]]:
    return [tuple(r.tolist()) for x, _ in loader for r in x]


def test_two_ranks_split_the_one_rank_epoch_disjointly(tmp_path):
    kw = dict(root=tmp_path, mirror=MIRROR, tokenizer="byte", seq_len=16, batch_size=8, train_tokens=40 * 17)
    one = LMDataModule("tinyshakespeare", **kw)
    one.setup()
    loader = one.train_dataloader()
    loader.sampler.set_epoch(3)
    epoch = _rows(loader)
    assert len(epoch) == 40 == len(set(epoch))
    shards = []
    for rank in range(2):
        dm = LMDataModule("tinyshakespeare", **kw)
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        dm.setup()
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(3)
        assert {len(x) for x, _ in loader} == {4}  # the global batch of 8 split over 2 ranks
        shards.append(_rows(loader))
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == sorted(epoch)
    dm.trainer = SimpleNamespace(world_size=3, global_rank=0)
    with pytest.raises(ValueError, match="not divisible by the 3 DDP ranks"):
        dm.train_dataloader()


def test_datamodule_with_bpe(tmp_path, shakespeare):
    dm = LMDataModule(
        "tinyshakespeare",
        root=str(tmp_path),
        mirror=MIRROR,
        vocab_size=300,
        seq_len=32,
        batch_size=16,
        eval_batch_size=10,
        val_tokens=50 * 33,
    )
    dm.prepare_data()
    assert (tmp_path / "tokenizers" / "tinyshakespeare-bpe300.provenance.json").is_file()
    dm.setup()
    p = dm.provenance
    assert dm.vocab_size == 300 and dm.tokens_per_batch == 16 * 32
    assert p["sha256"] == text.SHAKESPEARE_SHA256 and p["tokenizer"] == "bpe"
    assert p["tokenizer_sha256"] == text._sha256(
        (tmp_path / "tokenizers/tinyshakespeare-bpe300.json").read_bytes()
    )
    assert (
        p["n_val_tokens"] == 50 * 33 < p["n_val_tokens_split"]
        and p["n_train_tokens"] == p["n_train_tokens_split"]
    )
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == y.shape == (16, 32) and x.dtype == torch.long and int(x.max()) < dm.vocab_size
    val = [b for b in dm.val_dataloader()]
    assert [len(b[0]) for b in val] == [10] * 5
    stream = torch.cat([torch.cat([vx, vy[:, -1:]], 1).flatten() for vx, vy in val]).tolist()
    _, val_text = split_text(shakespeare, 0.1)
    assert val_text.startswith(dm.tok.decode(stream))  # validation is the tail, in order
    first_train = torch.cat([x[0], y[0, -1:]]).tolist()
    assert dm.tok.decode(first_train) in split_text(shakespeare, 0.1)[0]
    assert [torch.equal(a[0], b[0]) for a, b in zip(dm.test_dataloader(), val, strict=True)] == [True] * 5


def test_prepare_corpus_returns_the_provenance_and_is_stable(tmp_path):
    a = prepare_corpus("tinyshakespeare", tmp_path, MIRROR, "byte")
    b = prepare_corpus("tinyshakespeare", tmp_path, MIRROR, "byte")
    assert a["n_train_tokens"] + a["n_val_tokens"] == 1_115_394  # ASCII text: one byte per character
    assert {k: v for k, v in a.items() if k != "fetched_from"} == {
        k: v for k, v in b.items() if k != "fetched_from"
    }
    assert a["tokenizer_sha256"] is None and a["vocab_size"] == 256


def test_the_prepare_stage_writes_the_provenance_language_model_runs_depend_on(tmp_path, capsys):
    from subspacelab.pipeline import prepare

    prepare.main(
        ["--corpus", "tinyshakespeare", "--vocab-size", "300", "--root", str(tmp_path), "--mirror", MIRROR]
    )
    prov = tmp_path / "tokenizers" / "tinyshakespeare-bpe300.provenance.json"
    assert prov.is_file() and "training tokens" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        prepare.main(["imagenet"])  # an unknown image dataset is refused, naming the valid ones
    assert "valid: cifar10, fashion_mnist, mnist" in capsys.readouterr().err


def test_a_resumed_epoch_starts_at_the_next_batch():
    inner = ShuffledBatches(20, 4, seed=0)
    whole = list(inner)
    skipping = text.SkipFirst(ShuffledBatches(20, 4, seed=0), skip=2)
    assert list(skipping) == whole[2:]  # the interrupted epoch continues where it stopped
    assert list(skipping) == whole  # later passes are whole


def test_the_cached_encoding_has_the_same_bytes_whichever_process_writes_it(tmp_path, monkeypatch):
    """The prepare stage records the cache file's sha256: it must not depend on the writing process (torch.save
    names the archive inside the file after the file, so a pid in a temporary name used to change the bytes)."""
    written = []
    for pid, folder in ((101, tmp_path / "a"), (202, tmp_path / "b")):
        monkeypatch.setattr(text.os, "getpid", lambda pid=pid: pid)
        encode_corpus("hello\nworld\n", ByteTokenizer(), folder, "toy", "train", "byte")
        (cache,) = folder.glob("toy.train.*.pt")
        written.append(cache.read_bytes())
        assert sorted(p.name for p in folder.iterdir()) == [cache.name]  # no temporary folder left behind
    assert written[0] == written[1]
