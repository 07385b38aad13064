"""Locks that a killed ``dvc`` leaves in ``.dvc/tmp``, found and cleared before the next ``dvc repro``.

DVC guards its repository with ``.dvc/tmp/lock`` (an ``flock``: the kernel frees it when its holder dies) and
records which stage reads or writes which path in ``.dvc/tmp/rwlock`` (JSON, rewritten in place under the
``rwlock.lock`` flock). A ``kill -9`` while DVC rewrites ``rwlock`` leaves half a JSON file, and every later
``dvc repro`` stops with "Unable to read RWLock-file ... JSON structure is corrupted". An rwlock whose entries
all belong to dead processes only blocks until DVC cleans it itself, with a warning per entry.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

from subspacelab.errors import UserError


def pid_alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


@contextmanager
def _flocked(path: Path):
    """Hold ``path``'s flock if no live process holds it (yield True), else yield False."""
    if not path.exists():
        yield True
        return
    with open(path, "a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _pid_in(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


def _rwlock_pids(text: str) -> set[int]:
    """The pids an rwlock file names; ValueError when it is not DVC's JSON structure."""
    lock = json.loads(text)
    if not isinstance(lock, dict):
        raise ValueError("not an object")
    infos = list(lock.get("write", {}).values())
    for readers in lock.get("read", {}).values():
        infos += readers
    return {int(info["pid"]) for info in infos}


def repair(repo: Path = Path(".")) -> list[str]:
    """Clear what a killed DVC left in ``repo/.dvc/tmp``; return one line per thing cleared.

    Raises :class:`UserError` when a live DVC process holds the repository (another ``dvc`` is running)."""
    tmp = Path(repo) / ".dvc" / "tmp"
    lock, rwlock = tmp / "lock", tmp / "rwlock"
    said: list[str] = []
    with _flocked(lock) as free:
        if not free:
            raise UserError(
                f"{lock}: another DVC process (pid {_pid_in(lock)}) is running in this repository; "
                "wait for it to finish or stop it, then rerun"
            )
    if not rwlock.exists():
        return said
    with _flocked(tmp / "rwlock.lock") as free:
        if not free:
            return said  # a live DVC is rewriting it right now: not ours to touch
        try:
            pids = _rwlock_pids(rwlock.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            rwlock.unlink()
            said.append(f"{rwlock}: corrupt (left by a killed dvc); removed it")
            return said
        if pids and not any(pid_alive(p) for p in pids):
            rwlock.unlink()
            said.append(
                f"{rwlock}: held by no live process (pid {', '.join(map(str, sorted(pids)))}); removed it"
            )
    return said
