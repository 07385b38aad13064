"""Hydra multirun beside DVC: each job writes its run where the evaluate/report stages find it."""

import json
import subprocess
import sys

import pytest

from subspacelab.pipeline import evaluate


@pytest.mark.slow
def test_hydra_multirun_writes_runs_the_evaluate_stage_finds(tmp_path):
    # the paper's default method is its random subspace, so method.d can be swept directly
    cmd = [
        sys.executable,
        "-m",
        "subspacelab.train",
        "-m",
        "paper=intrinsic_dimension",
        "scale=smoke",
        "method.d=50,500",
        f"runs_root={tmp_path}",
        "logger=csv",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    table = evaluate.run("intrinsic_dimension", "smoke", runs_root=str(tmp_path))
    names = {r["run_name"] for r in table["runs"]}
    assert names == {"mnist-fc200x2-fastfood-d50-s0", "mnist-fc200x2-fastfood-d500-s0"}
    assert table["missing"] == ["mnist-fc200x2-full-s0"]  # the planned baseline was not part of this sweep
    saved = json.loads((tmp_path / "intrinsic_dimension/smoke/results.json").read_text())
    assert saved["runs"] == table["runs"]
