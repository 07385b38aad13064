"""``make new-paper`` in a scratch copy of the repository: the skeleton validates, plans, runs its smoke grid,
gets a verdict for every claim and passes its own tests; a taken or malformed id writes nothing."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def scratch(tmp_path: Path) -> tuple[Path, dict]:
    work = tmp_path / "repo"
    for item in (
        "src",
        "conf",
        "pipelines",
        "tests/papers/test_conformance.py",
        "tests/integration/test_experiments.py",
        "tests/conftest.py",
        "pyproject.toml",
    ):
        src, dst = ROOT / item, work / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dst)
    env = {**os.environ, "PYTHONPATH": str(work / "src"), "SUBSPACELAB_N_JOBS": "1", "WANDB_MODE": "offline"}
    return work, env


def new_paper(work, env, *args):
    return subprocess.run(
        [sys.executable, "-m", "subspacelab.pipeline.new_paper", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
def test_an_experiment_skeleton_passes_its_tests_and_the_conformance_checks(tmp_path):
    work, env = scratch(tmp_path)
    made = new_paper(work, env, "--id", "demo_skeleton", "--kind", "experiment")
    assert made.returncode == 0, made.stderr
    assert '"demo_skeleton",' in (work / "src/subspacelab/papers/registry.py").read_text()
    assert (work / "pipelines/demo_skeleton/dvc.yaml").is_file()
    assert (work / "pipelines/demo_skeleton/params.yaml").is_file()
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/papers/test_demo_skeleton.py",
            "tests/papers/test_conformance.py",
            "tests/integration/test_experiments.py",
            "-k",
            "demo_skeleton",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    # everything ran and passed (its rule test, conformance, the smoke grid); only the two tests of committed cpu
    # runs (verdicts pinned to a report, fingerprints of the runs) wait for them. (Five since make check, not the
    # suite, renders each paper's dvc.yaml.)
    assert re.search(r"\b([5-9]|\d\d+) passed, 2 skipped\b", tests.stdout), tests.stdout[-500:]
    assert "no cpu-scale runs or report yet" in tests.stdout and "has no committed cpu runs" in tests.stdout


def test_a_taken_or_malformed_id_writes_nothing(tmp_path):
    work, env = scratch(tmp_path)
    registry = (work / "src/subspacelab/papers/registry.py").read_text()
    taken = new_paper(work, env, "--id", "intrinsic_dimension")
    assert taken.returncode == 2 and "exists already" in taken.stderr and "Traceback" not in taken.stderr
    bad = new_paper(work, env, "--id", "Not-An-Id")
    assert bad.returncode == 2 and bad.stderr.startswith("ID: ") and len(bad.stderr.strip().splitlines()) == 1
    assert (work / "src/subspacelab/papers/registry.py").read_text() == registry
    assert not (work / "conf/paper/Not-An-Id.yaml").exists()
