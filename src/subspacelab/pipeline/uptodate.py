"""A no-op ``make reproduce-paper`` in a second or two instead of DVC's half minute.

``dvc repro`` of one paper's report loads the index of every pipeline in the repository (thousands of stages)
before it can say that nothing changed. After a reproduction succeeds, ``record`` stores a signature of every
file a reproduction can read or write: the code and configs (``src``, ``conf``, ``params.yaml``), every
``dvc.yaml`` and ``dvc.lock``, the prepared data and code records (``data``), and the paper's runs and report.
The signature is each file's path, size and modification time, so taking it only stats files. The next
reproduction of that paper and scale skips DVC when the signature is unchanged. Editing, adding, removing or
touching any of those files (a ``git checkout`` included) makes DVC decide again, and ``--force`` always runs
it. The stamps live in ``.dvc/tmp`` (ignored by git, local to this checkout)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

SKIP_DIRS = {"__pycache__", ".git", ".dvc", ".pytest_cache", ".ruff_cache"}


def watched(paper: str, scale: str, root: Path) -> list[Path]:
    """The files and folders whose state decides whether a reproduction has anything to do."""
    report = root / "reports" / paper / ("" if scale == "cpu" else scale)
    return [
        root / "src",
        root / "conf",
        root / "params.yaml",
        root / "dvc.yaml",
        root / "dvc.lock",
        root / "pipelines",
        root / "data",
        root / "runs" / paper / scale,
        report,
    ]


def _files(path: Path):
    if path.is_file():
        yield path
        return
    for base, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if not name.endswith(".pyc"):
                yield Path(base) / name


def signature(paper: str, scale: str, root: Path = Path(".")) -> str:
    """SHA-256 over (path, size, mtime) of every watched file (see the module doc)."""
    digest = hashlib.sha256()
    for top in watched(paper, scale, root):
        for f in _files(top):
            try:  # a link is itself (W&B leaves dangling ones); a file removed meanwhile is not there
                st = f.lstat()
            except FileNotFoundError:
                continue
            digest.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def stamp(paper: str, scale: str, root: Path = Path(".")) -> Path:
    return root / ".dvc" / "tmp" / "subspacelab-reproduced" / f"{paper}-{scale}.json"


def record(paper: str, scale: str, root: Path = Path(".")) -> None:
    """After a successful reproduction: remember the state it left. Best effort: without a stamp the next
    reproduction asks DVC, as it would anyway."""
    path = stamp(paper, scale, root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"signature": signature(paper, scale, root)}))
    except OSError:
        path.unlink(missing_ok=True)


def unchanged(paper: str, scale: str, root: Path = Path(".")) -> bool:
    """Whether no watched file changed since the last successful reproduction of ``paper`` at ``scale``."""
    path = stamp(paper, scale, root)
    try:
        return json.loads(path.read_text())["signature"] == signature(paper, scale, root)
    except (OSError, ValueError, KeyError):
        return False


# Where a paper's report stage can find upstream stages: its own pipeline, the data preparation, the code records.
STAGE_FILES = ("pipelines/{paper}/dvc.yaml", "dvc.yaml", "pipelines/code/dvc.yaml")


def stale_stages(paper: str, scale: str, root: Path = Path(".")) -> list[str] | None:
    """DVC's own verdict on the stages ``report-<scale>`` depends on, loading only ``STAGE_FILES`` (a few hundred
    stages) instead of the repository's whole index (thousands): the stages DVC would run, [] when none, ``None``
    when this cannot be decided here (a dependency that none of these stages produces and that is not on disk,
    or any error), so that ``dvc repro`` decides. Each stage's check is DVC's (``Stage.changed``: its
    command, dependencies, parameters and outputs against its ``dvc.lock`` entry); on a fresh clone it hashes the
    files once, as ``dvc repro`` would."""
    import contextlib

    try:
        from dvc.dvcfile import load_file
        from dvc.repo import Repo

        # DVC resolves a stage's paths against the working directory, so it must be the repository's root
        with contextlib.chdir(root), Repo(".") as repo:
            stages = {}
            for pattern in STAGE_FILES:
                path = pattern.format(paper=paper)
                if (root / path).is_file():
                    stages.update((st.addressing, st) for st in load_file(repo, path).stages.values())
            producer = {out.fs_path: name for name, st in stages.items() for out in st.outs}
            todo, closure = [f"pipelines/{paper}/dvc.yaml:report-{scale}"], set()
            while todo:
                name = todo.pop()
                if name in closure:
                    continue
                closure.add(name)
                for dep in stages[name].deps:
                    if dep.fs_path in producer:
                        todo.append(producer[dep.fs_path])
                    elif not os.path.exists(dep.fs_path):
                        return None  # produced elsewhere, or missing: DVC decides
            with repo.lock:  # as every dvc command holds it (a running dvc makes this fail: DVC decides then)
                return sorted(name for name in closure if stages[name].changed())
    except Exception:  # noqa: BLE001 - any doubt: let dvc repro decide
        return None
