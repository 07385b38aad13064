"""Content checks of prepared data: the SHA-256 and size of every file, recorded when it is prepared and
checked again before it is used.

Why content and not existence: a file that exists can still be zeroed or truncated, and a run trained on it
"succeeds" with the wrong numbers. Why a full hash on every use and no size+mtime cache: hashing runs at
about 1-2 ms per MB here (0.05-0.15 s for MNIST's 66 MB, 0.2-0.4 s for the CIFAR-10 stand-in's 185 MB),
which is nothing next to a training run, while a stat cache can be fooled (an edit that keeps the size
and restores the mtime, or one within the file system's timestamp granularity) and needs a cache file
that concurrent runs would race to write.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


class DataIntegrityError(ValueError):
    """A data file's content differs from its recorded or published SHA-256 (one line, naming the fix)."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe(root: str | os.PathLike, rels: list[str]) -> dict[str, dict]:
    """``{rel: {"bytes": size, "sha256": hex}}`` for files given relative to ``root`` (POSIX separators)."""
    root = Path(root)
    return {
        rel: {"bytes": (root / rel).stat().st_size, "sha256": sha256_file(root / rel)} for rel in sorted(rels)
    }


def verify(root: str | os.PathLike, content: dict[str, dict], reference: str, fix: str) -> None:
    """Check every file of ``content`` (as written by :func:`describe`) under ``root``.

    Raises :class:`DataIntegrityError` naming the first missing or differing file, the measured and the
    expected hash and size, ``reference`` (what the expected values come from) and ``fix``.
    """
    root = Path(root)
    for rel, want in sorted(content.items()):
        path = root / rel
        if not path.is_file():
            raise DataIntegrityError(f"{path} is missing ({reference} lists it): {fix}")
        size, got = path.stat().st_size, sha256_file(path)
        if got != want["sha256"]:
            raise DataIntegrityError(
                f"{path} fails its checksum: sha256 {got} ({size} bytes), but {reference} says "
                f"{want['sha256']} ({want['bytes']} bytes): {fix}"
            )


def check_published(
    root: str | os.PathLike, content: dict[str, dict], published: dict[str, str], fix: str
) -> None:
    """Raise :class:`DataIntegrityError` if a file of ``content`` that has a published SHA-256 differs from it."""
    for rel, entry in sorted(content.items()):
        want = published.get(rel)
        if want is not None and entry["sha256"] != want:
            raise DataIntegrityError(
                f"{Path(root) / rel} fails its checksum: sha256 {entry['sha256']} ({entry['bytes']} bytes), "
                f"published {want}: {fix}"
            )


def is_exact(content: dict[str, dict], published: dict[str, str]) -> bool:
    """True iff there is content and every file of it has a published SHA-256 that it matches."""
    return bool(content) and all(published.get(rel) == entry["sha256"] for rel, entry in content.items())
