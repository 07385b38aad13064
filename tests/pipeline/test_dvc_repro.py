"""The real pipeline: `dvc repro` of the paper's smoke scale in a copy of the repository.

Killed half way (kill -9 at a deterministic point, through a test hook) and rerun, finished stages are not redone
and the locks the kill left are cleared; a second full `dvc repro` does nothing.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from subspacelab.data import mirror_root
from subspacelab.pipeline.train import KILL_HOOK_ENV

ROOT = Path(__file__).resolve().parents[2]
PIPE = "pipelines/intrinsic_dimension/dvc.yaml"
TARGET = f"{PIPE}:report-smoke"


def dvc(work, env, *args, **kw):
    return subprocess.run(["dvc", *args], cwd=work, env=env, capture_output=True, text=True, **kw)


def copy_repo(tmp_path):
    """A copy of the repository's pipeline (no runs, no locks) with DVC initialised, and its env."""
    work = tmp_path / "repo"
    for item in ("conf", "docs", "pipelines", "src", "dvc.yaml", "params.yaml"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    for lock in work.rglob("dvc.lock"):
        lock.unlink()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "WANDB_MODE": "offline",
    }
    mirror = mirror_root()
    if mirror:
        env["SUBSPACELAB_DATA_MIRROR"] = str(mirror)
    assert dvc(work, env, "init", "--no-scm", "-q").returncode == 0
    return work, env


@pytest.mark.slow
def test_dvc_repro_smoke_resumes_after_a_kill_and_is_idempotent(tmp_path):
    work, env = copy_repo(tmp_path)

    # 1. kill -9 the whole repro at a deterministic point: the second training run, on starting, SIGKILLs its
    #    process group (dvc and everything it started) once one run has finished and DVC has recorded it
    killed = dvc(work, {**env, KILL_HOOK_ENV: "1"}, "repro", TARGET, timeout=600, start_new_session=True)
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-3000:] + killed.stderr[-3000:]
    lock = work / "pipelines/intrinsic_dimension/dvc.lock"
    finished = [line.strip().rstrip(":") for line in lock.read_text().splitlines() if "train@" in line]
    assert len(finished) == 1, finished
    assert len(list(work.glob("runs/intrinsic_dimension/smoke/*/metrics.json"))) == 1

    # a kill -9 can also land while DVC rewrites its rwlock: leave it half written, as such a kill does
    rwlock = work / ".dvc/tmp/rwlock"
    rwlock.write_text('{"read": {"runs/intrinsic_dimension/sm')

    # 2. rerun through reproduce: it clears the corrupt lock, skips the recorded run, runs the rest, reports
    second = subprocess.run(
        [sys.executable, "-m", "subspacelab.pipeline.reproduce", "--paper", "intrinsic_dimension"]
        + ["--scale", "smoke", "--dvc"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    said = [line for line in second.stdout.splitlines() if line.startswith("[reproduce]")]
    assert f"[reproduce] {rwlock.relative_to(work)}: corrupt (left by a killed dvc); removed it" in said
    run_name = finished[0].removeprefix("train@")
    assert any(line.startswith(f"[reproduce] [skip] {run_name} ") for line in said), said
    assert sum(line.startswith("[reproduce] [done] smoke-") for line in said) == 2, said
    assert "[reproduce] run 3 of 3" in "\n".join(said)
    report = json.loads((work / "reports/intrinsic_dimension/smoke/comparison.json").read_text())
    assert {c["id"] for c in report["claims"]} >= {"mnist_fc_dint90", "lenet_below_fc", "cpu_budget"}
    assert (work / "reports/intrinsic_dimension/smoke/comparison.md").read_text().startswith("# Measuring")
    results = json.loads((work / "runs/intrinsic_dimension/smoke/results.json").read_text())
    assert len(results["runs"]) == 3 and not results["missing"]
    assert list(work.glob("runs/intrinsic_dimension/smoke/*/wandb/offline-run-*"))

    # 3. nothing changed: nothing runs
    third = dvc(work, env, "repro", TARGET, timeout=300)
    assert third.returncode == 0 and "Running stage" not in third.stdout, third.stdout


@pytest.mark.slow
def test_runs_made_outside_dvc_are_recorded_once_and_not_redone(tmp_path):
    """The cluster recipe: a sweep writes runs (here in-process; on a cluster a Slurm job array), then
    `sweep --record` commits them to dvc.lock from one process and lets DVC evaluate and report."""
    work, env = copy_repo(tmp_path)
    code = (
        "from subspacelab.pipeline.sweep import sweep_in_process, record; "
        "sweep_in_process('intrinsic_dimension', 'smoke', ['logger=csv']); record('intrinsic_dimension', 'smoke')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "[record] 3 finished runs recorded" in out.stdout
    after = out.stdout.split("[record]")[1]
    assert f"Running stage '{PIPE}:train@" not in after and f"Running stage '{PIPE}:report-smoke'" in after
    assert (work / "reports/intrinsic_dimension/smoke/comparison.md").is_file()
    again = dvc(work, env, "repro", TARGET, timeout=300)
    assert again.returncode == 0 and "Running stage" not in again.stdout, again.stdout
