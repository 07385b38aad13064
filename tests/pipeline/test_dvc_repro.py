"""The real pipeline: `dvc repro` of the paper's smoke scale in a copy of the repository.

Killed half way and rerun, finished stages are not redone; a second full `dvc repro` does nothing.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from subspacelab.data import mirror_root

ROOT = Path(__file__).resolve().parents[2]
PIPE = "pipelines/intrinsic_dimension/dvc.yaml"
TARGET = f"{PIPE}:report-smoke"


def dvc(work, env, *args, **kw):
    return subprocess.run(["dvc", *args], cwd=work, env=env, capture_output=True, text=True, **kw)


@pytest.mark.slow
def test_dvc_repro_smoke_resumes_after_a_kill_and_is_idempotent(tmp_path):
    work = tmp_path / "repo"
    for item in ("conf", "pipelines", "src", "dvc.yaml", "params.yaml"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    shutil.rmtree(work / "runs", ignore_errors=True)
    for lock in work.rglob("dvc.lock"):
        lock.unlink()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "WANDB_MODE": "offline"}
    mirror = mirror_root()
    if mirror:
        env["SUBSPACELAB_DATA_MIRROR"] = str(mirror)
    assert dvc(work, env, "init", "--no-scm", "-q").returncode == 0

    # 1. start, wait until the first train stage is recorded in dvc.lock, then kill the whole repro
    proc = subprocess.Popen(["dvc", "repro", TARGET], cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    lock = work / "pipelines/intrinsic_dimension/dvc.lock"
    deadline = time.time() + 300
    while time.time() < deadline and not (lock.is_file() and "train@" in lock.read_text()):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    finished = [line.strip().rstrip(":") for line in lock.read_text().splitlines() if "train@" in line]
    assert finished, "no train stage finished before the kill"

    # 2. rerun: the finished stage is skipped, the rest runs, the report is written
    second = dvc(work, env, "repro", TARGET, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"Running stage '{PIPE}:{finished[0]}'" not in second.stdout
    report = json.loads((work / "reports/intrinsic_dimension/smoke/comparison.json").read_text())
    assert {c["id"] for c in report["claims"]} >= {"mnist_fc_dint90", "lenet_below_fc", "cpu_budget"}
    assert (work / "reports/intrinsic_dimension/smoke/comparison.md").read_text().startswith("# Measuring")
    results = json.loads((work / "runs/intrinsic_dimension/smoke/results.json").read_text())
    assert len(results["runs"]) == 3 and not results["missing"]
    assert list(work.glob("runs/intrinsic_dimension/smoke/*/wandb/offline-run-*"))

    # 3. nothing changed: nothing runs
    third = dvc(work, env, "repro", TARGET, timeout=300)
    assert third.returncode == 0 and "Running stage" not in third.stdout, third.stdout
