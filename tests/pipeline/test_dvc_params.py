"""DVC sees a paper's hyperparameters: in a fresh git copy of the xfactors pipeline (its committed runs and lock),
a value set with ``dvc exp run -S`` reruns that scale's train stages and nothing else, ``dvc params diff`` shows the
change, and ``make status`` names it as a params change."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from subspacelab.pipeline.status import reasons, stage_scale

ROOT = Path(__file__).resolve().parents[2]
PAPER = "xfactors"  # an experiment paper: its runs read no prepared data and no code record
PARAMS = f"pipelines/{PAPER}/params.yaml"


def run(work, *args):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    out = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The paper's pipeline, runs and report with the code and configs they depend on, committed to a new git
    repository with DVC initialised."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    work = tmp_path_factory.mktemp("dvc-params")
    for item in ("conf", "src", "params.yaml", f"pipelines/{PAPER}", f"runs/{PAPER}/cpu", f"reports/{PAPER}"):
        src = ROOT / item
        dst = work / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(
            src, dst, **({"ignore": _pycache} if src.is_dir() else {})
        )
    run(work, "git", "init", "-q")
    run(work, "dvc", "init", "-q")
    run(work, "git", "add", "-A")
    run(work, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy")
    return work


def cpu_runs(work) -> list[str]:
    return sorted(p.name for p in (work / f"runs/{PAPER}/cpu").iterdir() if (p / "metrics.json").is_file())


def _pycache(_dir, names):
    return [n for n in names if n == "__pycache__"]


def test_the_committed_cpu_runs_are_up_to_date_with_their_params(work):
    said = run(work, "dvc", "exp", "run", "--dry", f"pipelines/{PAPER}/dvc.yaml:report-cpu")
    assert "Running stage" not in said, said


def test_a_value_set_with_exp_run_reruns_only_that_scales_train_stages(work):
    said = run(
        work, "dvc", "exp", "run", "--dry", f"pipelines/{PAPER}/dvc.yaml:report-cpu",
        "-S", f"{PARAMS}:cpu.experiment.steps=500",
    )  # fmt: skip
    started = sorted(line.split("'")[1] for line in said.splitlines() if line.startswith("Running stage"))
    trains = [s for s in started if ":train@" in s]
    assert trains == [f"pipelines/{PAPER}/dvc.yaml:train@cpu-{r}" for r in cpu_runs(work)], said


def test_params_diff_and_status_name_an_edited_hyperparameter(work):
    params = work / PARAMS
    before = params.read_text()
    sections = yaml.safe_load(before)
    steps = sections["cpu"]["experiment"]["steps"]
    sections["cpu"]["experiment"]["steps"] = steps // 2
    params.write_text(yaml.safe_dump(sections, sort_keys=False))
    try:
        diff = run(work, "dvc", "params", "diff", "--json")
        changed = json.loads(diff)[PARAMS]
        assert list(changed) == ["cpu.experiment.steps"]
        assert (changed["cpu.experiment.steps"]["old"], changed["cpu.experiment.steps"]["new"]) == (
            steps,
            steps // 2,
        )
        status = json.loads(run(work, "dvc", "status", "--json", f"pipelines/{PAPER}/dvc.yaml"))
        cpu = {s: entries for s, entries in status.items() if stage_scale(s.split(":")[-1]) == "cpu"}
        assert sorted(s.split(":")[-1] for s in cpu) == [f"train@cpu-{r}" for r in cpu_runs(work)]
        assert all(reasons(entries) == {"params": 1} for entries in cpu.values()), cpu
    finally:
        params.write_text(before)


def test_exp_show_lists_the_papers_hyperparameters_beside_its_metrics(work):
    shown = json.loads(run(work, "dvc", "exp", "show", "--json"))
    workspace = next(row for row in shown if row["rev"] == "workspace")
    params = workspace["data"]["params"][PARAMS]["data"]
    steps = yaml.safe_load((work / PARAMS).read_text())["cpu"]["experiment"]["steps"]
    assert params["cpu"]["experiment"]["steps"] == steps
    assert f"reports/{PAPER}/comparison.json" in workspace["data"]["metrics"]


def test_the_reproduce_preflight_finds_what_dvc_would_run(work):
    """``uptodate.stale_stages`` (what make reproduce-paper asks before starting dvc repro) finds nothing stale in the
    committed state, the cpu train stages after a cpu hyperparameter changes, those and the report after a source file
    of the runs changes, and the never-run paper scale stale."""
    from subspacelab.pipeline.uptodate import stale_stages

    assert stale_stages(PAPER, "cpu", work) == []
    trains = sorted(f"pipelines/{PAPER}/dvc.yaml:train@cpu-{r}" for r in cpu_runs(work))
    params, source = work / PARAMS, work / f"src/subspacelab/papers/{PAPER}/experiment.py"

    def halve_cpu_steps(text):
        sections = yaml.safe_load(text)
        sections["cpu"]["experiment"]["steps"] //= 2
        return yaml.safe_dump(sections, sort_keys=False)

    report = (
        f"pipelines/{PAPER}/dvc.yaml:report-cpu"  # the report imports the paper's package, the runs' code too
    )
    edits = (
        (params, halve_cpu_steps, trains),
        (source, lambda text: text + "\n# edited\n", [report, *trains]),
    )
    for path, edit, expected in edits:
        before = path.read_text()
        path.write_text(edit(before))
        try:
            stale = stale_stages(PAPER, "cpu", work)
        finally:
            path.write_text(before)
        assert stale == expected, stale
    assert stale_stages(PAPER, "cpu", work) == []
    assert f"pipelines/{PAPER}/dvc.yaml:report-paper" in stale_stages(PAPER, "paper", work)
