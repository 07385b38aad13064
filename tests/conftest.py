"""Shared fixtures. Tests run from the repository root, offline, with W&B in offline mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session", autouse=True)
def _repo_root():
    os.chdir(ROOT)


# --- several workers (make test runs pytest-xdist): what they share ------------------------------------------------

SHARED = {
    "tests/slurm/": "slurm",  # the one Slurm cluster tests/slurm/conftest.py starts (make test runs them alone, after)
    "tests/pipeline/": "repository",  # DVC and make on the repository itself (DVC's lock), its generated files
}


def pytest_collection_modifyitems(config, items):
    """Each test joins one xdist group (``--dist loadgroup`` runs a group on one worker, in turn): the tests of a
    shared resource (``SHARED``) one group each, every test that launches DDP processes one group (their rendezvous
    ports are found free just before the processes bind them), every other test its file's group (a module's
    fixtures are built once). Without xdist the marks do nothing."""
    for item in items:
        path = Path(str(item.path)).relative_to(ROOT).as_posix()
        group = next((g for prefix, g in SHARED.items() if path.startswith(prefix)), None)
        if group is None:
            group = "ddp" if item.get_closest_marker("ddp") else path
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", autouse=True)
def _image_datasets_prepared_once(_repo_root):
    """Under xdist, the first worker prepares the image datasets in data/raw (torchvision's extraction is not
    atomic) while the others wait on the lock, then find them prepared; what cannot be had is left to the tests
    that need it, which say why."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    from filelock import FileLock

    from subspacelab.data import DATASETS, DataUnavailableError, prepare_dataset

    raw = Path("data/raw")
    raw.mkdir(parents=True, exist_ok=True)
    with FileLock(str(raw / ".tests-prepare.lock")):
        for name in sorted(DATASETS):
            try:
                prepare_dataset(name, raw)
            except DataUnavailableError:
                pass


@pytest.fixture
def smoke_overrides(tmp_path):
    """Overrides for a fast in-process run writing under tmp_path."""
    return ["scale=smoke", f"runs_root={tmp_path / 'runs'}", "logger=csv"]


@pytest.fixture
def one_thread():
    """Tiny tensors on a shared 2-core machine: intra-op threads only add hand-off waits. Restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def run_script(tmp_path):
    """``run_script(source, name)``: write ``source`` (dedented) under tmp_path, run it with this Python and the path
    of an output file as its one argument, assert it exits 0 (showing its stderr if not), and return the JSON it
    wrote there: how the DDP tests start their two gloo processes, a script being the launcher's entry point."""
    import json
    import subprocess
    import sys
    import textwrap

    def run(source: str, name: str = "script.py", timeout: int = 300) -> dict:
        script, out_file = tmp_path / name, tmp_path / "out.json"
        script.write_text(textwrap.dedent(source))
        out = subprocess.run(
            [sys.executable, str(script), str(out_file)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out_file.read_text())

    return run


@pytest.fixture
def float64_default():
    """A context manager with torch's default dtype float64 inside it (restored after): the DDP tests that compare
    two ranks with one process build the one-process side in float64, as their scripts do, so that float32
    round-off through Adam's normalised steps cannot blur the comparison."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def default_float64():
        before = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            yield
        finally:
            torch.set_default_dtype(before)

    return default_float64
