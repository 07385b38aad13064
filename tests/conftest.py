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
