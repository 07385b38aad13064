"""``make status``: one paper's pipeline at a glance, from ``dvc status --json`` of its own dvc.yaml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from subspacelab.pipeline.status import (
    reasons,
    recorded_stages,
    stage_kind,
    stage_names,
    stage_scale,
    summarise,
)

ROOT = Path(__file__).resolve().parents[2]


def test_stage_names_split_into_kind_and_scale():
    assert [stage_kind(s) for s in ("train@cpu-mnist-s0", "evaluate-cpu", "report-paper")] == [
        "train",
        "evaluate",
        "report",
    ]
    assert [stage_scale(s) for s in ("train@smoke-a-b-s1", "report-cpu", "evaluate-paper")] == [
        "smoke",
        "cpu",
        "paper",
    ]


def test_reasons_group_changed_files_by_what_they_are():
    entry = [
        {
            "changed deps": {
                "../../src/subspacelab/lit/fit.py": "modified",
                "../../conf/config.yaml": "modified",
                "../../pipelines/x/params.yaml": {"cpu": "modified"},
                "../../data/raw/mnist.provenance.json": "deleted",
                "../../runs/x/cpu/a/metrics.json": "modified",
            },
            "changed outs": {"../../runs/x/cpu/results.json": "deleted"},
        },
        "changed command",
    ]
    assert reasons(entry) == {
        "code": 1,
        "configs": 1,
        "params": 1,
        "data not prepared yet": 1,
        "runs": 1,
        "outputs deleted": 1,
        "changed command": 1,
    }


def test_one_line_per_kind_counts_the_up_to_date_and_names_the_rest():
    stages = [
        "train@cpu-a-s0",
        "train@cpu-a-s1",
        "train@smoke-a-s0",
        "evaluate-cpu",
        "report-cpu",
        "report-smoke",
    ]
    status = {
        "train@cpu-a-s1": [{"changed deps": {"../../src/m.py": "modified"}}],
        "report-cpu": [{"changed deps": {"../../src/r.py": "modified"}}],
        "train@smoke-a-s0": [{"changed deps": {"../../src/m.py": "modified"}}],
    }
    recorded = {"train@cpu-a-s0", "train@cpu-a-s1", "evaluate-cpu"}
    assert summarise(status, stages, recorded, "cpu") == [
        "train: 1 of 2 up to date; to rerun: train@cpu-a-s1 (why: code)",
        "evaluate: 1 of 1 up to date",
        "report: 0 of 1 up to date; to rerun: report-cpu (why: never run)",
    ]


def test_the_committed_mmcr_pipeline_reads_at_a_glance():
    names = stage_names("mmcr", ROOT)
    assert sum(n.startswith("train@cpu-") for n in names) == 5
    assert {n for n in names if "@cpu-" in n or n.endswith("-cpu")} <= recorded_stages("mmcr", ROOT)
    out = subprocess.run(
        [sys.executable, "-m", "subspacelab.pipeline.status", "--paper", "mmcr"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "[status] mmcr at scale cpu" and lines[1].startswith("  train: ")
    assert " of 5 up to date" in lines[1] and lines[3].startswith("  report: ")


def test_an_unknown_scale_is_one_line_naming_the_valid_ones():
    out = subprocess.run(
        [sys.executable, "-m", "subspacelab.pipeline.status", "--paper", "mmcr", "--scale", "huge"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "SCALE: paper mmcr has no scale 'huge'; valid: smoke, cpu, paper"
    ]
