"""``make sweep``: a paper's grid as Hydra multiruns (one per grid group), any Hydra launcher.

Each job writes its run directory exactly as a DVC stage would, so ``make report`` (or the DVC
report stage) finds it; a finished run (same config fingerprint) is skipped, an interrupted one
resumes from its checkpoint. ``sweep_in_process`` does the same without subprocesses. A user error (an unknown
paper or scale, a bad override) is one line on stderr and exit code 2, before any run starts.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

from subspacelab.errors import EXIT_USER_ERROR, user_errors
from subspacelab.pipeline.plan import multirun_commands, plan


def sweep_in_process(paper: str, scale: str, extra: list[str] | None = None) -> list[dict]:
    """Run every planned run in this process, one line per finished run."""
    from subspacelab.config import compose
    from subspacelab.logging_setup import quiet_known_warnings
    from subspacelab.pipeline.train import check_trained, run

    results = []
    runs = plan(paper, scale)
    quiet_known_warnings()
    for i, r in enumerate(runs, 1):
        cfg = compose([*r.overrides, *(extra or [])])
        metrics = run(cfg)
        check_trained(cfg, metrics)
        print(f"[sweep {i}/{len(runs)}] {r.run_name}: test acc {metrics.get('test_acc', float('nan')):.4f}")
        results.append(metrics)
    return results


def record(paper: str, scale: str) -> None:
    """After a sweep that ran outside DVC (e.g. a Slurm job array): record every finished run in
    dvc.lock once, from one process (never ``dvc repro`` inside each job: DVC's lock would make
    parallel jobs collide), then let DVC run evaluate and report.

    Only runs whose ``metrics.json`` was made by exactly the configuration DVC's stage would run
    (same config fingerprint) are recorded; others are listed and left for ``dvc repro`` to redo.
    """
    from subspacelab.config import compose
    from subspacelab.pipeline.dvclocks import repair
    from subspacelab.pipeline.runinfo import fingerprint, read_metrics
    from subspacelab.pipeline.tasks import task_of

    for line in repair(Path(".")):
        print(f"[record] {line}", flush=True)
    pipeline = f"pipelines/{paper}/dvc.yaml"
    items = yaml.safe_load(Path(pipeline).read_text())["stages"]["train"]["foreach"]
    done, other, datasets = [], [], set()
    for r in plan(paper, scale):
        m = read_metrics(r.run_dir)
        if m is None:
            continue
        cfg = compose(list(r.overrides))
        if task_of(cfg) == "lm":
            datasets.add(f"dvc.yaml:prepare-text@{cfg.data.id}")
        elif m.get("data"):
            datasets.add(f"dvc.yaml:prepare@{m['data']}")
        item = items.get(f"{scale}-{Path(r.run_dir).name}", {})
        for group in (
            "model",
            "method",
        ):  # a training run also depends on its model's and method's code record
            if group in item:
                datasets.add(f"pipelines/code/dvc.yaml:{group}-{item[group]}")
        same = m.get("fingerprint") == fingerprint(cfg)
        (done if same else other).append(f"{pipeline}:train@{scale}-{Path(r.run_dir).name}")
    if other:
        print(f"[record] not recorded, made by another configuration: {', '.join(other)}")
    if done:  # first the datasets and code records the runs depend on, then the runs
        subprocess.check_call(["dvc", "repro", "-q", *sorted(datasets)])
        subprocess.check_call(["dvc", "commit", "-f", "-q", *done])
    print(f"[record] {len(done)} finished runs recorded in {pipeline.replace('dvc.yaml', 'dvc.lock')}")
    subprocess.check_call(["dvc", "repro", f"{pipeline}:report-{scale}"])


def main(argv=None) -> None:
    with user_errors():
        _main(argv)


def _main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paper", required=True)
    ap.add_argument("--scale", default="cpu")
    ap.add_argument(
        "--launcher", default="basic", help="a hydra/launcher option, e.g. joblib or submitit_slurm"
    )
    ap.add_argument("--dry-run", action="store_true", help="print the commands only")
    ap.add_argument(
        "--record", action="store_true", help="then record the runs in DVC and run evaluate + report"
    )
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = ap.parse_args(argv)
    from subspacelab.pipeline.targets import check_target

    check_target(args.paper, args.scale)  # before Hydra or a launcher starts
    commands = multirun_commands(args.paper, args.scale)
    for k, cmd in enumerate(commands, 1):
        full = [sys.executable, "-m", "subspacelab.train", "-m", *cmd, *args.overrides]
        if args.launcher != "basic":
            full.append(f"hydra/launcher={args.launcher}")
        print(f"[sweep] group {k} of {len(commands)}: " + " ".join(full[1:]), flush=True)
        rc = 0 if args.dry_run else subprocess.call(full)
        if rc == EXIT_USER_ERROR:  # the run said what is wrong, in one line
            sys.exit(rc)
        if rc:
            sys.exit("a sweep failed; rerun the same command: finished runs are skipped")
    if args.record and not args.dry_run:
        record(args.paper, args.scale)


if __name__ == "__main__":
    main()
