"""Causal language-model data: a corpus as one string, a tokenizer, and next-token blocks.

A corpus is split contiguously: the last ``val_fraction`` of its characters (moved back to the
start of a line) is validation, the rest is training. The tokenizer (byte-level BPE trained on the
*training* part only, or raw UTF-8 bytes) turns each part into one stream of ids t_0 .. t_{N-1}.
The stream is cut into non-overlapping blocks of ``seq_len + 1`` tokens b_k = t[k(L+1) : (k+1)(L+1)];
a sample is x = b_k[:-1], y = b_k[1:], so the model is trained on p(t_{i+1} | t_{<=i}) within a block.
The ragged tail (fewer than L+1 tokens) is dropped.

Everything expensive is cached under ``root``: the tokenizer file in ``root/tokenizers`` and the
token streams next to it, keyed by corpus, split, tokenizer hash and text hash. The prepared record
(``root/tokenizers/<corpus>-<kind><vocab>.provenance.json``) lists the size and SHA-256 of the corpus copy,
the tokenizer file and the token caches (``content``); they are checked before being read again, so a
corrupt file is a one-line :class:`~subspacelab.data.integrity.DataIntegrityError` naming it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import sys
import sysconfig
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from subspacelab.data.corpora import CORPORA, HF_PREFIX
from subspacelab.data.integrity import DataIntegrityError, describe, verify
from subspacelab.data.mirror import ENV_VAR, DataUnavailableError, mirror_corrupt, mirror_root
from subspacelab.data.vision import ShuffledBatches, sharded_batches

TOKENIZERS = ("bpe", "byte")
EOT = "<|endoftext|>"

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_LAYOUT = "text/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

# The python_stdlib corpus: these module sources of the running interpreter, in this order, each
# preceded by the line ``STDLIB_SEPARATOR.format(path)``. Pinned so the corpus only changes with Python.
STDLIB_FILES = (
    "__future__.py",
    "_collections_abc.py",
    "abc.py",
    "argparse.py",
    "ast.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "asyncio/futures.py",
    "asyncio/locks.py",
    "asyncio/queues.py",
    "asyncio/tasks.py",
    "base64.py",
    "bisect.py",
    "calendar.py",
    "collections/__init__.py",
    "concurrent/futures/_base.py",
    "concurrent/futures/thread.py",
    "configparser.py",
    "contextlib.py",
    "copy.py",
    "csv.py",
    "dataclasses.py",
    "datetime.py",
    "difflib.py",
    "dis.py",
    "email/message.py",
    "email/utils.py",
    "enum.py",
    "fractions.py",
    "functools.py",
    "gettext.py",
    "glob.py",
    "gzip.py",
    "heapq.py",
    "http/client.py",
    "http/server.py",
    "inspect.py",
    "ipaddress.py",
    "json/__init__.py",
    "json/decoder.py",
    "json/encoder.py",
    "logging/__init__.py",
    "logging/handlers.py",
    "pathlib.py",
    "pickle.py",
    "pprint.py",
    "queue.py",
    "random.py",
    "re/__init__.py",
    "re/_compiler.py",
    "re/_parser.py",
    "shlex.py",
    "shutil.py",
    "statistics.py",
    "string.py",
    "subprocess.py",
    "tarfile.py",
    "tempfile.py",
    "textwrap.py",
    "threading.py",
    "tokenize.py",
    "traceback.py",
    "typing.py",
    "unittest/case.py",
    "unittest/mock.py",
    "urllib/parse.py",
    "urllib/request.py",
    "uuid.py",
    "warnings.py",
    "weakref.py",
    "zipfile.py",
)
STDLIB_SEPARATOR = "# ===== {} =====\n"


# ----------------------------------------------------------------------------------------- corpora
def _check_corpus(name: str) -> None:
    if name in CORPORA or (name.startswith(HF_PREFIX) and name[len(HF_PREFIX) :].split(":")[0]):
        return
    raise KeyError(f"unknown corpus {name!r}; valid: {', '.join(CORPORA)}, {HF_PREFIX}<dataset>[:<config>]")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _slug(name: str) -> str:
    """A file-name-safe form of a corpus name (``hf:wikitext:x`` -> ``hf_wikitext_x``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _tinyshakespeare(root: Path, mirror: str | Path | None) -> tuple[str, str]:
    """The text and where it came from on this machine: ``local`` (root), ``mirror`` or ``download``.

    Every copy is checked against the published SHA-256: a corrupt local copy or mirror file is a
    :class:`DataIntegrityError` naming it (the mirror is tried before the network, a corrupt one is skipped).
    """
    local = root / "tinyshakespeare" / "input.txt"
    if local.is_file():
        data = local.read_bytes()
        if _sha256(data) != SHAKESPEARE_SHA256:
            raise DataIntegrityError(
                f"{local} fails its checksum: sha256 {_sha256(data)} ({len(data)} bytes), published "
                f"{SHAKESPEARE_SHA256}: delete it and rerun the prepare-text stage (or make reproduce-paper)"
            )
        return data.decode("utf-8"), "local"
    mirror_dir = mirror_root(mirror)
    mirror_file = mirror_dir / SHAKESPEARE_LAYOUT if mirror_dir is not None else None
    corrupt = None
    if mirror_file is not None and mirror_file.is_file():
        data, fetched = mirror_file.read_bytes(), "mirror"
        if _sha256(data) != SHAKESPEARE_SHA256:
            corrupt = mirror_corrupt("tinyshakespeare", mirror_file, _sha256(data), SHAKESPEARE_SHA256)
    if mirror_file is None or not mirror_file.is_file() or corrupt is not None:
        try:
            with urllib.request.urlopen(SHAKESPEARE_URL, timeout=60) as response:
                data, fetched = response.read(), "download"
        except Exception as err:  # noqa: BLE001 - any failure means: no data
            if corrupt is not None:
                raise corrupt from None
            raise DataUnavailableError(
                f"tinyshakespeare is not in {local}, could not be downloaded from {SHAKESPEARE_URL} "
                f"(no network?) and no mirror has it. Either run once on a machine with internet access, "
                f"or point {ENV_VAR} (or data.mirror) at a folder laid out like shared/datasets "
                f"(it needs {SHAKESPEARE_LAYOUT})."
            ) from err
        if _sha256(data) != SHAKESPEARE_SHA256:
            raise DataIntegrityError(
                f"tinyshakespeare downloaded from {SHAKESPEARE_URL} has sha256 {_sha256(data)}, "
                f"published {SHAKESPEARE_SHA256}: the file changed upstream; use the mirror's copy"
            )
    _write_atomic(local, data)
    return data.decode("utf-8"), fetched


def _python_stdlib() -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    missing = [rel for rel in STDLIB_FILES if not (stdlib / rel).is_file()]
    if missing:
        raise DataUnavailableError(
            f"python_stdlib: pinned file(s) {', '.join(missing)} not found under {stdlib} "
            f"(Python {sys.version.split()[0]}; the list is pinned for CPython 3.11)"
        )
    parts = []
    for rel in STDLIB_FILES:
        source = (stdlib / rel).read_bytes().decode("utf-8")
        parts.append(STDLIB_SEPARATOR.format(rel) + source + ("" if source.endswith("\n") else "\n"))
    return "".join(parts)


def _hf_text(name: str, root: Path) -> str:
    """Train then validation rows of the text column of a Hugging Face dataset, one row per line."""
    dataset, _, config = name[len(HF_PREFIX) :].partition(":")
    try:
        import datasets

        ds = datasets.load_dataset(dataset, config or None, cache_dir=str(root / "hf"))
        rows: list[str] = []
        for split in ("train", "validation"):
            part = ds[split]
            column = (
                "text"
                if "text" in part.column_names
                else next(c for c, f in part.features.items() if getattr(f, "dtype", None) == "string")
            )
            rows.extend(part[column])
    except Exception as err:  # noqa: BLE001 - offline, unknown name, no text column: all mean no data
        raise DataUnavailableError(
            f"{name}: datasets.load_dataset({dataset!r}, {config or None!r}) failed ({type(err).__name__}: "
            f"{err}). It needs network access once (then it is cached under {root / 'hf'}); offline, use "
            f"one of {', '.join(CORPORA)}."
        ) from err
    return "".join(r if r.endswith("\n") else r + "\n" for r in rows)


def load_corpus(
    name: str, root: str | Path = "data/raw", mirror: str | Path | None = None
) -> tuple[str, dict]:
    """The corpus ``name`` as one string, and its provenance (name, source, sha256 of the UTF-8 text, n_chars).

    ``fetched_from`` says where this machine got it; the other keys identify *what* it is.
    """
    _check_corpus(name)
    root = Path(root)
    if name == "tinyshakespeare":
        text, fetched = _tinyshakespeare(root, mirror)
        source = f"karpathy/char-rnn data/tinyshakespeare/input.txt ({SHAKESPEARE_URL})"
        extra: dict = {}
    elif name == "python_stdlib":
        text, fetched = _python_stdlib(), "local"
        source = f"CPython {sys.version.split()[0]} standard library ({len(STDLIB_FILES)} pinned files)"
        extra = {"python": sys.version.split()[0], "files": list(STDLIB_FILES)}
    else:
        text, fetched = _hf_text(name, root), "huggingface"
        source = f"huggingface datasets {name[len(HF_PREFIX) :]} (train + validation)"
        extra = {}
    prov = {"name": name, "source": source, "sha256": _sha256(text.encode("utf-8")), "n_chars": len(text)}
    return text, {**prov, **extra, "fetched_from": fetched}


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """Contiguous split: validation is the tail of at least ``val_fraction`` of the characters.

    The cut c = floor((1 - f) * n) is moved back to just after the last newline before it
    (kept as is when there is none), so train = text[:c] and val = text[c:] partition the text.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = int(len(text) * (1.0 - val_fraction))
    newline = text.rfind("\n", 0, cut)
    if newline >= 0:
        cut = newline + 1
    return text[:cut], text[cut:]


def _pieces(text: str, size: int = 1 << 16) -> Iterator[str]:
    """Consecutive pieces of about ``size`` characters, each ending at a newline (except maybe the last)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


# -------------------------------------------------------------------------------------- tokenizers
class Tokenizer(Protocol):
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def encode_batch(self, texts: list[str]) -> list[list[int]]: ...


class ByteTokenizer:
    """Token = one byte of the UTF-8 encoding (vocab 256); decoding replaces invalid UTF-8 sequences."""

    vocab_size = 256
    eot_id: int | None = None

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


class BPETokenizer:
    """A trained byte-level BPE (a ``tokenizers.Tokenizer`` file); encode adds no special tokens."""

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer as HFTokenizer

        self.path = Path(path)
        self.tok = HFTokenizer.from_file(str(self.path))
        self.vocab_size: int = self.tok.get_vocab_size()
        self.eot_id: int | None = self.tok.token_to_id(EOT)

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=False)


def train_bpe_tokenizer(text: str, vocab_size: int, path: str | Path) -> Path:
    """Train a byte-level BPE on ``text`` and save it as JSON at ``path``.

    The GPT-2 ByteLevel pre-tokenizer maps every byte to a visible character and splits words; the
    initial alphabet is all 256 bytes, so any string is encodable and decode(encode(s)) == s. Merges
    are learnt greedily (most frequent adjacent pair first) until ``vocab_size`` entries
    (256 bytes + ``<|endoftext|>`` + merges) or no pair occurs twice. Same text and vocab -> same file.
    """
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    if vocab_size < 257:
        raise ValueError(f"a byte-level BPE needs vocab_size >= 257 (256 bytes + {EOT}), got {vocab_size}")
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_pieces(text), trainer=trainer)
    path = Path(path)
    _write_atomic(path, tok.to_str(pretty=True).encode("utf-8"))
    return path


def load_tokenizer(kind: str, path: str | Path | None = None) -> ByteTokenizer | BPETokenizer:
    """``byte`` -> ByteTokenizer(); ``bpe`` -> the BPE saved at ``path``."""
    if kind == "byte":
        return ByteTokenizer()
    if kind == "bpe":
        if path is None or not Path(path).is_file():
            raise FileNotFoundError(f"bpe tokenizer file {path} does not exist (see cached_tokenizer)")
        return BPETokenizer(path)
    raise ValueError(f"unknown tokenizer {kind!r}; valid: {', '.join(TOKENIZERS)}")


def tokenizer_path(
    corpus: str, kind: str, vocab_size: int, root: str | Path, val_fraction: float = 0.1
) -> Path:
    """``root/tokenizers/<corpus>-<kind><vocab>.json`` (``-val<f>`` appended when f != 0.1)."""
    suffix = "" if val_fraction == 0.1 else f"-val{val_fraction:g}"
    return Path(root) / "tokenizers" / f"{_slug(corpus)}-{kind}{vocab_size}{suffix}.json"


def cached_tokenizer(
    corpus: str,
    kind: str,
    vocab_size: int,
    root: str | Path = "data/raw",
    mirror: str | Path | None = None,
    val_fraction: float = 0.1,
) -> Path | None:
    """The tokenizer file for ``corpus`` (None for ``byte``), trained once on its training split, then reused.

    ``val_fraction`` fixes which characters are training text; it is part of the file name unless 0.1.
    """
    if kind == "byte":
        return None
    if kind != "bpe":
        raise ValueError(f"unknown tokenizer {kind!r}; valid: {', '.join(TOKENIZERS)}")
    path = tokenizer_path(corpus, kind, vocab_size, root, val_fraction)
    if not path.is_file():
        text, _ = load_corpus(corpus, root, mirror)
        train_bpe_tokenizer(split_text(text, val_fraction)[0], vocab_size, path)
    return path


def tokenizer_sha256(path: str | Path | None) -> str | None:
    return None if path is None else _sha256(Path(path).read_bytes())


def token_cache_path(text: str, cache_dir: str | Path, corpus: str, split: str, tokenizer_key: str) -> Path:
    """Where :func:`encode_corpus` caches the ids of ``text`` (the key hashes every input)."""
    key = _sha256("|".join([corpus, split, tokenizer_key, _sha256(text.encode("utf-8"))]).encode())
    return Path(cache_dir) / f"{_slug(corpus) or 'text'}.{split or 'all'}.{key[:16]}.pt"


def encode_corpus(
    text: str,
    tokenizer: Tokenizer,
    cache_dir: str | Path | None = None,
    corpus: str = "",
    split: str = "",
    tokenizer_key: str = "",
) -> torch.Tensor:
    """Token ids of ``text`` as a 1-D int32 tensor (pieces ending at newlines, encoded independently).

    With ``cache_dir``, the ids are saved as ``<corpus>.<split>.<key>.pt`` where key hashes corpus,
    split, ``tokenizer_key`` (the tokenizer file's sha256, or ``byte``) and the text itself, and a
    later call with the same inputs loads them instead of tokenizing again.
    """
    cache = None
    if cache_dir is not None:
        cache = token_cache_path(text, cache_dir, corpus, split, tokenizer_key)
        if cache.is_file():
            return torch.load(cache, weights_only=True)
    if isinstance(tokenizer, ByteTokenizer):
        ids = torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).to(torch.int32)
    else:
        ids = torch.tensor(
            list(itertools.chain.from_iterable(tokenizer.encode_batch(list(_pieces(text))))),
            dtype=torch.int32,
        )
    if cache is not None:
        # written under its final name in a private folder, then moved: torch.save names the archive inside the file
        # after the file, so a temporary name (with the pid) would make the bytes, and the prepare stage's record,
        # differ from one preparation to the next
        tmp = cache.parent / f".tmp-{os.getpid()}" / cache.name
        tmp.parent.mkdir(parents=True, exist_ok=True)
        torch.save(ids, tmp)
        os.replace(tmp, cache)
        tmp.parent.rmdir()
    return ids


def provenance_path(
    name: str, tokenizer: str, vocab_size: int, root: str | Path, val_fraction: float
) -> Path:
    """``root/tokenizers/<corpus>-<kind><vocab>.provenance.json``: the prepare-text stage's record."""
    vocab = vocab_size if tokenizer == "bpe" else 256
    return tokenizer_path(name, tokenizer, vocab, root, val_fraction).with_suffix(".provenance.json")


def _verify_recorded(record_file: Path, root: Path) -> None:
    """Check the files a prepared record lists (corpus copy, tokenizer, token caches) before they are read.

    A listed file that is absent is not an error: it is rebuilt from the corpus (same inputs, same bytes).
    """
    try:
        content = json.loads(record_file.read_text()).get("content") or {}
    except (OSError, ValueError):
        return
    present = {rel: entry for rel, entry in content.items() if (root / rel).is_file()}
    fix = "delete that file and rerun the prepare-text stage (or make reproduce-paper)"
    verify(root, present, f"the prepared record {record_file}", fix)


def _prepare(
    name: str,
    root: str | Path,
    mirror: str | Path | None,
    tokenizer: str,
    vocab_size: int,
    val_fraction: float,
) -> tuple[dict, ByteTokenizer | BPETokenizer, torch.Tensor, torch.Tensor]:
    root = Path(root)
    _verify_recorded(provenance_path(name, tokenizer, vocab_size, root, val_fraction), root)
    text, prov = load_corpus(name, root, mirror)
    train_text, val_text = split_text(text, val_fraction)
    path = cached_tokenizer(name, tokenizer, vocab_size, root, mirror, val_fraction)
    tok = load_tokenizer(tokenizer, path)
    sha = tokenizer_sha256(path)
    cache_dir = root / "tokenizers"
    train_ids = encode_corpus(train_text, tok, cache_dir, name, "train", sha or tokenizer)
    val_ids = encode_corpus(val_text, tok, cache_dir, name, "val", sha or tokenizer)
    files = [
        token_cache_path(t, cache_dir, name, split, sha or tokenizer)
        for t, split in ((train_text, "train"), (val_text, "val"))
    ]
    files += [path] if path is not None else []
    files += [root / "tinyshakespeare" / "input.txt"] if name == "tinyshakespeare" else []
    prov = {
        **prov,
        "content": describe(root, [f.relative_to(root).as_posix() for f in files]),
        "val_fraction": val_fraction,
        "tokenizer": tokenizer,
        "tokenizer_vocab_requested": vocab_size if tokenizer == "bpe" else 256,
        "vocab_size": tok.vocab_size,
        "tokenizer_sha256": sha,
        "n_train_tokens": len(train_ids),
        "n_val_tokens": len(val_ids),
    }
    return prov, tok, train_ids, val_ids


def prepare_corpus(
    name: str,
    root: str | Path = "data/raw",
    mirror: str | Path | None = None,
    tokenizer: str = "bpe",
    vocab_size: int = 2048,
    val_fraction: float = 0.1,
) -> dict:
    """Fetch the corpus, build the tokenizer and the token caches; return the provenance.

    The identity part (everything but ``fetched_from``) is also written to
    ``root/tokenizers/<corpus>-<kind><vocab>.provenance.json``, the DVC output of the prepare stage.
    """
    prov = _prepare(name, root, mirror, tokenizer, vocab_size, val_fraction)[0]
    identity = {k: v for k, v in prov.items() if k != "fetched_from"}
    _write_atomic(
        provenance_path(name, tokenizer, vocab_size, root, val_fraction),
        (json.dumps(identity, indent=2, sort_keys=True) + "\n").encode(),
    )
    return prov


# ------------------------------------------------------------------------------------- data module
class TokenBlocks(Dataset):
    """Non-overlapping blocks of ``seq_len + 1`` tokens; indexing with a list of block indices returns a
    whole batch (x, y) of int64 tensors of shape (B, seq_len) with y = x shifted left by one token."""

    def __init__(self, tokens: torch.Tensor, seq_len: int):
        n = len(tokens) // (seq_len + 1)
        if n == 0:
            raise ValueError(f"{len(tokens)} tokens are too few for one block of seq_len + 1 = {seq_len + 1}")
        self.seq_len = seq_len
        self.blocks = tokens[: n * (seq_len + 1)].view(n, seq_len + 1)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, idx) -> tuple[torch.Tensor, torch.Tensor]:
        block = self.blocks[idx].long()
        return block[..., :-1], block[..., 1:]


class SkipFirst(Sampler[list[int]]):
    """A batch sampler whose first pass starts ``skip`` batches in: a run resumed in the middle of an epoch
    continues with the batch it would have seen next (later passes are whole)."""

    def __init__(self, inner, skip: int = 0):
        self.inner, self.skip = inner, int(skip)

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def __iter__(self):
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.inner), skip, None)

    def __len__(self) -> int:
        return len(self.inner)


class LMDataModule(L.LightningDataModule):
    """Next-token blocks of a corpus for a causal LM.

    ``batch_size`` is the global batch: under DDP each of the W ranks gets batch_size / W blocks of a
    seeded per-epoch shuffle (``shuffle_seed``), so a resumed epoch replays the same order. Validation
    is the corpus tail in order, unshuffled; ``test_dataloader`` returns the same validation blocks
    (the pipeline calls ``trainer.test``; there is no separate test text). ``train_tokens`` and
    ``val_tokens`` cap the token streams (a prefix of each) before blocking. ``split_seed`` is accepted
    for config symmetry with the vision data; the contiguous text split does not depend on it.
    """

    def __init__(
        self,
        name: str = "tinyshakespeare",
        root: str = "data/raw",
        mirror: str | None = None,
        tokenizer: str = "bpe",
        vocab_size: int = 2048,
        seq_len: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        val_fraction: float = 0.1,
        train_tokens: int | None = None,
        val_tokens: int | None = None,
        shuffle_seed: int = 0,
        split_seed: int = 0,
    ):
        super().__init__()
        _check_corpus(name)
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {tokenizer!r}; valid: {', '.join(TOKENIZERS)}")
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        split_text("", val_fraction)  # validates the fraction
        self.name, self.root, self.mirror = name, root, mirror
        self.tokenizer_kind, self.requested_vocab_size = tokenizer, vocab_size
        self.vocab_size = 256 if tokenizer == "byte" else vocab_size  # the real size once set up
        self.seq_len, self.batch_size, self.eval_batch_size = seq_len, batch_size, eval_batch_size
        self.val_fraction, self.train_tokens, self.val_tokens = val_fraction, train_tokens, val_tokens
        self.shuffle_seed, self.split_seed = shuffle_seed, split_seed
        self.provenance: dict = {}
        self.resume_skip = 0  # batches of the current epoch a resumed run has already trained on

    @property
    def tokens_per_batch(self) -> int:
        """Tokens predicted per optimiser step over all ranks: batch_size * seq_len."""
        return self.batch_size * self.seq_len

    def _prepare(self):
        return _prepare(
            self.name,
            self.root,
            self.mirror,
            self.tokenizer_kind,
            self.requested_vocab_size,
            self.val_fraction,
        )

    def prepare_data(self) -> None:
        prepare_corpus(
            self.name,
            self.root,
            self.mirror,
            self.tokenizer_kind,
            self.requested_vocab_size,
            self.val_fraction,
        )

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        prov, self.tok, train_ids, val_ids = self._prepare()
        train_ids, val_ids = train_ids[: self.train_tokens], val_ids[: self.val_tokens]
        self.train_set = TokenBlocks(train_ids, self.seq_len)
        self.val_set = TokenBlocks(val_ids, self.seq_len)
        self.vocab_size = self.tok.vocab_size
        self.provenance = {
            **prov,
            "n_train_tokens_split": prov["n_train_tokens"],
            "n_val_tokens_split": prov["n_val_tokens"],
            "n_train_tokens": len(train_ids),
            "n_val_tokens": len(val_ids),
            "seq_len": self.seq_len,
            "n_train_blocks": len(self.train_set),
            "n_val_blocks": len(self.val_set),
        }

    def train_dataloader(self) -> DataLoader:
        sampler = sharded_batches(self, len(self.train_set), self.batch_size, self.shuffle_seed)
        skip, self.resume_skip = self.resume_skip, 0
        return DataLoader(self.train_set, sampler=SkipFirst(sampler, skip), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        sampler = ShuffledBatches(len(self.val_set), self.eval_batch_size, 0, shuffle=False)
        return DataLoader(self.val_set, sampler=sampler, batch_size=None)

    def test_dataloader(self) -> DataLoader:
        """The validation blocks again: the pipeline reports ``trainer.test`` on held-out text."""
        return self.val_dataloader()
