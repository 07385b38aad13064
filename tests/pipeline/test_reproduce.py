"""`make reproduce-paper`: a wrong PAPER or SCALE is refused at once, before DVC; a smoke reproduction runs
without DVC and changes no tracked file of a fresh clone."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from subspacelab.data import mirror_root
from subspacelab.pipeline import reproduce

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--paper", "intrinsic_dimension", "--scale", "huge"],
            "SCALE: paper intrinsic_dimension has no scale 'huge'; valid: smoke, cpu, paper",
        ),
        (["--paper", "nosuch"], "PAPER: unknown paper 'nosuch'; valid: blind_calibration,"),
    ],
)
def test_a_wrong_paper_or_scale_is_one_line_and_exit_2_before_dvc_starts(args, says, capsys, monkeypatch):
    def no_subprocess(*a, **k):
        raise AssertionError("DVC was started")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    with pytest.raises(SystemExit) as exit_:
        reproduce.main(args)
    assert exit_.value.code == 2
    out = capsys.readouterr()
    assert out.err.startswith(says) and out.err.count("\n") == 1 and out.out == ""


@pytest.mark.parametrize(
    ("stale", "starts_dvc"), [([], False), (["p/dvc.yaml:train@cpu-r-s0"], True), (None, True)]
)
def test_dvc_repro_starts_only_when_the_preflight_finds_a_stale_stage_or_cannot_tell(
    stale, starts_dvc, monkeypatch
):
    """With no stamp, reproduce asks DVC about the paper's own stages first (``uptodate.stale_stages``): none stale
    -> done without ``dvc repro`` and the stamp recorded; a stale stage, or no answer -> ``dvc repro`` decides."""
    from subspacelab.pipeline import dvcgen, uptodate

    calls = []

    class Started(Exception):
        pass

    def popen(cmd, *a, **k):
        calls.append(cmd)
        raise Started

    monkeypatch.setattr(uptodate, "unchanged", lambda paper, scale: False)
    monkeypatch.setattr(uptodate, "stale_stages", lambda paper, scale: stale)
    monkeypatch.setattr(uptodate, "record", lambda paper, scale: calls.append("recorded"))
    monkeypatch.setattr(dvcgen, "write_if_changed", lambda paper: None)
    monkeypatch.setattr(subprocess, "Popen", popen)
    if starts_dvc:
        with pytest.raises(Started):
            reproduce.reproduce_with_dvc("mhs_vm", "cpu")
        assert calls[0][:2] == ["dvc", "repro"]
    else:
        assert reproduce.reproduce_with_dvc("mhs_vm", "cpu") == 0 and calls == ["recorded"]


def test_sweep_refuses_a_wrong_scale_the_same_way(capsys):
    from subspacelab.pipeline import sweep

    with pytest.raises(SystemExit) as exit_:
        sweep.main(["--paper", "intrinsic_dimension", "--scale", "huge", "--dry-run"])
    assert exit_.value.code == 2
    out = capsys.readouterr()
    assert out.err == "SCALE: paper intrinsic_dimension has no scale 'huge'; valid: smoke, cpu, paper\n"
    assert out.out == ""  # no multirun command was printed, let alone started


def git(cwd, *args) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def clone_of_the_working_tree(dest: Path) -> Path:
    """A fresh clone holding the working tree as it is (uncommitted edits committed in the clone only)."""
    git(ROOT, "clone", "-q", "--shared", str(ROOT), str(dest))
    changed = git(ROOT, "diff", "--name-only", "-z", "HEAD", "--diff-filter=d").split("\0")
    untracked = git(ROOT, "ls-files", "-z", "--others", "--exclude-standard").split("\0")
    for rel in filter(None, changed + untracked):
        if not (ROOT / rel).exists():  # gone since the listing (a file of a test running beside this one)
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    for rel in filter(None, git(ROOT, "diff", "--name-only", "-z", "HEAD", "--diff-filter=D").split("\0")):
        (dest / rel).unlink(missing_ok=True)
    git(dest, "add", "-A")
    git(
        dest,
        "-c",
        "user.name=test",
        "-c",
        "user.email=test@example.invalid",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "wip",
    )
    assert git(dest, "status", "--porcelain") == ""
    return dest


@pytest.mark.slow
def test_a_smoke_reproduction_changes_no_tracked_file(tmp_path):
    work = clone_of_the_working_tree(tmp_path / "clone")
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    if mirror_root():
        env["SUBSPACELAB_DATA_MIRROR"] = str(mirror_root())
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "subspacelab.pipeline.reproduce",
            "--paper",
            "blind_calibration",
            "--scale",
            "smoke",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "[reproduce] blind_calibration at scale smoke"  # said before anything slow starts
    assert "[reproduce] run 1 of 3: plain-n12-m12-h0-k0-rho0.5-pn8-s0" in lines
    done = [line for line in lines if line.startswith("[reproduce] [done]")]
    assert len(done) == 3 and "left" in done[0] and "left" not in done[-1]
    assert (work / "reports/blind_calibration/smoke/comparison.md").is_file()
    assert len(list(work.glob("runs/blind_calibration/smoke/*/metrics.json"))) == 3
    assert not (work / ".dvc/tmp/rwlock").exists()  # DVC did not run
    assert git(work, "status", "--porcelain", "--untracked-files=all") == ""
