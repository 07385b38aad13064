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
