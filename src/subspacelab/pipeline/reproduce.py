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
    from subspacelab.config.contract import ContractError, check
    from subspacelab.papers import registry

    if args.paper not in registry.PAPER_IDS:
        print(f"PAPER: unknown paper {args.paper!r}; valid: {', '.join(registry.PAPER_IDS)}", file=sys.stderr)
        sys.exit(2)
    try:
        scales = check(args.paper)["scales"]
    except ContractError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    if args.scale not in scales:  # before DVC starts: it would only say "stage report-<scale> not found"
        print(
            f"SCALE: paper {args.paper} has no scale {args.scale!r}; valid: {', '.join(scales)}",
            file=sys.stderr,
        )
        sys.exit(2)
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
