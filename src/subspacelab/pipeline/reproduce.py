"""``make reproduce-paper``: regenerate the paper's DVC pipeline, ``dvc repro`` one scale, say where the report is."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from subspacelab.pipeline import dvcgen
from subspacelab.pipeline.report import report_dir


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paper", required=True)
    ap.add_argument("--scale", default="cpu")
    ap.add_argument("--force", action="store_true", help="recompute every stage, committed runs included")
    args = ap.parse_args(argv)
    from subspacelab.config.compose import CONF_DIR

    papers = sorted(p.stem for p in (CONF_DIR / "paper").glob("*.yaml"))
    if args.paper not in papers:
        sys.exit(f"unknown paper {args.paper!r}; valid: {', '.join(papers)}")
    dvcgen.write_if_changed(args.paper)
    start = time.time()
    target = f"pipelines/{args.paper}/dvc.yaml:report-{args.scale}"
    rc = subprocess.call(["dvc", "repro", *(["--force"] if args.force else []), target])
    if rc:
        sys.exit(rc)
    print(f"\n[reproduce] {args.paper} at scale {args.scale}: {(time.time() - start) / 60:.1f} min")
    print(f"[reproduce] report: {report_dir(args.paper, args.scale) / 'comparison.md'}")


if __name__ == "__main__":
    main()
