"""Runs on a real single-node Slurm (see conftest.py): a submitit job-array sweep, DDP under srun,
and a cancelled job that resumes from its checkpoint. Skipped, with the reason, where Slurm cannot run."""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from subspacelab.pipeline import evaluate, report
from subspacelab.pipeline.runinfo import work_dir

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
RUNS = "intrinsic_dimension/smoke"
HOLD = Path(__file__).parent / "hold"


def test_a_sweep_through_submitit_slurm_reaches_the_report(slurm, tmp_path):
    out = slurm.run(
        sys.executable,
        "-m",
        "subspacelab.pipeline.sweep",
        "--paper",
        "intrinsic_dimension",
        "--scale",
        "smoke",
        "--launcher",
        "slurm",
        f"runs_root={tmp_path}",
        "logger=csv",
        "hydra.launcher.partition=debug",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.timeout_min=20",
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert list((tmp_path / RUNS / ".submitit").iterdir()), "submitit wrote no job folders"
    table = evaluate.run("intrinsic_dimension", "smoke", runs_root=str(tmp_path))
    assert len(table["runs"]) == 3 and table["missing"] == []
    done = report.run(
        "intrinsic_dimension",
        "smoke",
        runs_root=str(tmp_path),
        reports_root=tmp_path / "reports",
        wandb_log=False,
    )
    assert {c["id"] for c in done["claims"]} >= {"mnist_fc_dint90"}


def test_ddp_under_srun_ends_with_identical_ranks(slurm, tmp_path):
    out = slurm.run(
        "srun",
        "--ntasks=2",
        "--ntasks-per-node=2",
        "--cpus-per-task=1",
        sys.executable,
        "-m",
        "subspacelab.train",
        "scale=smoke",
        "method=intrinsic",
        "method.d=50",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        f"runs_root={tmp_path}",
        "logger=csv",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    m = json.loads((tmp_path / RUNS / "mnist-fc200x2-fastfood-d50-s0/metrics.json").read_text())
    assert m["world_size"] == 2 and m["ranks_max_abs_diff"] == 0.0


def test_a_cancelled_job_resumes_from_its_checkpoint_without_redoing_finished_runs(slurm, tmp_path):
    cmd = (
        f"{sys.executable} -m subspacelab.train -m scale=smoke method=intrinsic method.d=50,500 "
        f"trainer.max_epochs=3 runs_root={tmp_path} logger=csv"
    )
    first, second = (
        tmp_path / RUNS / "mnist-fc200x2-fastfood-d50-s0",
        tmp_path / RUNS / "mnist-fc200x2-fastfood-d500-s0",
    )
    # the first job holds the second run right after its first checkpoint (tests/slurm/hold), so the
    # cancel below always lands mid-run instead of racing the training
    hold = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HOLD), os.environ.get("PYTHONPATH")])),
        "SUBSPACELAB_HOLD_RUN": second.name,
    }
    job = slurm.sbatch(cmd, "--cpus-per-task=2", env=hold)
    deadline = time.time() + 600
    # a run keeps its checkpoints in its work folder until it ends
    held = work_dir(second) / "checkpoints/held"
    while time.time() < deadline and not held.is_file():
        assert slurm.state(job) != "GONE", slurm.log(job)[-3000:]
        time.sleep(0.2)
    assert held.is_file(), slurm.log(job)[-3000:]
    # preempted: the training process is killed outright, as a node failure would (Slurm's linuxproc tracking
    # kills the batch shell but can miss its Python child, which would then finish or linger), then the job goes
    os.kill(int(held.read_text()), signal.SIGKILL)
    slurm.run("scancel", "--full", "--signal=KILL", job)
    slurm.wait_gone(job)
    finished = json.loads((first / "metrics.json").read_text())
    assert not (second / "metrics.json").exists()

    job = slurm.sbatch(cmd, "--cpus-per-task=2")
    slurm.wait_gone(job)
    log = slurm.log(job)
    assert json.loads((first / "metrics.json").read_text())["finished_at"] == finished["finished_at"], log[
        -2000:
    ]
    assert "[skip]" in log
    resumed = json.loads((second / "metrics.json").read_text())
    assert resumed["resumed_from"].endswith("last.ckpt") and resumed["epochs"] == 3
