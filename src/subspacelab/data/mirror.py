"""Where datasets come from: the network (torchvision/datasets) or an offline mirror.

One setting chooses the mirror: the environment variable ``SUBSPACELAB_DATA_MIRROR`` (or the
``data.mirror`` config key, which defaults to it). Without either, ``../shared/datasets`` is used
when it exists next to the working directory. The mirror is read-only: files are copied into the
project's ``data/raw`` and verified there by SHA-256 (``subspacelab.data.integrity``). A mirror file
whose content is not the published one is refused with its own message (the mirror is corrupt), not
reported as absent.
"""

from __future__ import annotations

import os
from pathlib import Path

from subspacelab.data.integrity import DataIntegrityError, sha256_file

ENV_VAR = "SUBSPACELAB_DATA_MIRROR"
DEFAULT_MIRROR = Path("../shared/datasets")


class DataUnavailableError(RuntimeError):
    """Neither the network nor a mirror could provide a dataset."""


def mirror_root(configured: str | os.PathLike | None = None) -> Path | None:
    """The mirror folder to use, or None when there is none."""
    for candidate in (configured, os.environ.get(ENV_VAR)):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_dir():
                raise DataUnavailableError(
                    f"data mirror {path} (from {ENV_VAR} or data.mirror) is not a folder"
                )
            return path.resolve()
    return DEFAULT_MIRROR.resolve() if DEFAULT_MIRROR.is_dir() else None


def how_to_get(name: str, mirror_layout: str) -> str:
    return (
        f"{name} is not in data/raw, could not be downloaded (no network?) and no mirror has it. "
        f"Either run once on a machine with internet access (torchvision downloads it), or point "
        f"{ENV_VAR} at a folder laid out like shared/datasets (it needs {mirror_layout})."
    )


def mirror_corrupt(name: str, path: Path, got: str, want: str) -> DataIntegrityError:
    """The error for a mirror file whose SHA-256 is not the published one."""
    return DataIntegrityError(
        f"{name}: the mirror's copy {path} fails its checksum (sha256 {got}, published {want}); restore that "
        f"file from the source its MANIFEST.md names, or run once with network access"
    )


def intact_mirror_file(path: Path, want: str) -> str | None:
    """None when ``path``'s SHA-256 is ``want``, else the SHA-256 it has."""
    got = sha256_file(path)
    return None if got == want else got
