"""DVC's own tools work on the pipelines: ``dvc metrics show`` renders every metrics file the stages declare and
``dvc plots show`` every figure of a paper's report.

DVC's metrics table (``dvc.compare.TabularData``) answers attribute look-ups with its columns, so a top-level
metric named like a mapping attribute (``values``, ``keys``, ``items``) made ``tabulate`` take the table for a
DataFrame and crash (``'function' object has no attribute 'name'``, exit 255) for the whole repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHADOWING = {
    "values",
    "keys",
    "items",
    "index",
    "columns",
    "get",
    "append",
    "insert",
    "extend",
    "row_from_dict",
}


def declared_metrics() -> list[Path]:
    files = [*ROOT.glob("runs/*/cpu/*/metrics.json"), *ROOT.glob("reports/*/comparison.json")]
    assert files
    return files


def test_no_metrics_file_has_a_top_level_key_that_dvcs_table_would_shadow():
    bad = {
        str(f.relative_to(ROOT)): sorted(SHADOWING & set(json.loads(f.read_text())))
        for f in declared_metrics()
    }
    assert not {f: keys for f, keys in bad.items() if keys}


def dvc_executable() -> str:
    dvc = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")
    if dvc is None:
        pytest.skip("dvc is not installed")
    return dvc


def test_dvc_metrics_show_renders_a_sparse_regression_run():
    dvc = dvc_executable()
    run = next(ROOT.glob("runs/sparse_regression/cpu/*/metrics.json"))
    out = subprocess.run(
        [dvc, "metrics", "show", str(run.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()[:2]
    assert (
        header.split()[0] == "Path"
        and "signal_values" in header
        and row.startswith(str(run.relative_to(ROOT)))
    )


def test_dvc_plots_show_renders_every_figure_of_a_report(tmp_path):
    figures = sorted((ROOT / "reports" / "dcreg").glob("*.png"))
    assert figures
    out = subprocess.run(
        [dvc_executable(), "plots", "show", "pipelines/dcreg/dvc.yaml", "-o", str(tmp_path / "plots")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "plots" / "index.html").read_text()
    assert html.count("<img") == len(figures)
    assert all(f.name in html for f in figures)
