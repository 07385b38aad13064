"""``python -m subspacelab.pipeline.evaluate --paper P --scale S``: gather every run's metrics into one table
(and, for a paper with an analysis, the rows its ``analyze(ctx)`` makes of the finished runs).

Runs are found by their ``metrics.json`` under ``runs/<paper>/<scale>/``, so runs made by Hydra
multirun or on a cluster count as much as the DVC grid's; a planned run that is missing is listed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from subspacelab.errors import cli
from subspacelab.papers import registry
from subspacelab.pipeline.context import Context
from subspacelab.pipeline.runinfo import write_json
from subspacelab.pipeline.targets import check_target


def results_path(paper: str, scale: str, runs_root: str = "runs") -> Path:
    return Path(runs_root) / paper / scale / "results.json"


def run(
    paper: str, scale: str, runs_root: str = "runs", check_plan: bool = True, keep_analysis: bool = False
) -> dict:
    """Gather the runs' rows and, unless ``keep_analysis`` (then the analysis rows already in results.json
    are kept: for re-recorded runs whose analysis inputs, such as uncommitted checkpoints, are absent), analyse."""
    base = Path(runs_root) / paper / scale
    rows = [json.loads(f.read_text()) for f in sorted(base.glob("*/metrics.json"))]
    missing = []
    if check_plan:
        from subspacelab.pipeline.plan import plan

        have = {r["run_name"] for r in rows}
        missing = [p.run_name for p in plan(paper, scale) if p.run_name not in have]
    table = {"paper": paper, "scale": scale, "runs": rows, "missing": missing}
    spec = registry.get(paper)
    previous = results_path(paper, scale, runs_root)
    if keep_analysis and previous.is_file():
        table["analysis"] = json.loads(previous.read_text()).get("analysis", [])
    elif spec.analysis and rows:
        table["analysis"] = spec.analyze(Context(paper, scale, rows, base))
    write_json(results_path(paper, scale, runs_root), table)
    print(
        f"[evaluate] {paper}/{scale}: {len(rows)} runs"
        + (f", {len(missing)} planned runs missing" if missing else "")
    )
    return table


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paper", required=True)
    ap.add_argument("--scale", default="cpu")
    ap.add_argument("--runs-root", default="runs")
    ap.add_argument(
        "--keep-analysis",
        action="store_true",
        help="keep the analysis rows of the existing results.json (gather the runs' rows only)",
    )
    args = ap.parse_args(argv)
    check_target(args.paper, args.scale)
    run(args.paper, args.scale, args.runs_root, keep_analysis=args.keep_analysis)


if __name__ == "__main__":
    cli(main)  # a user error: one line on stderr, exit code 2
