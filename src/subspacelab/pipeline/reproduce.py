"""``make reproduce-paper``: train a paper's runs at one scale, evaluate them, write its report.

The cpu and paper scales run through DVC (the paper's ``dvc.yaml``, regenerated if its contract changed):
locks a killed ``dvc`` left behind are cleared first, and DVC's stage lines become ``run k of N`` progress
with times and the time left. The smoke scale runs without DVC, in this process (plan the grid, train each
run, evaluate, report): its runs and report are ignored by git and DVC would record them in the paper's
tracked ``dvc.lock``, so a smoke run changes no tracked file. ``--dvc`` runs smoke through DVC as well.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from subspacelab.errors import UserError, user_errors
from subspacelab.pipeline import uptodate
from subspacelab.pipeline.progress import Progress, duration

RUNNING = re.compile(r"Running stage '(?P<stage>[^']+)':")
SKIPPING = re.compile(r"Stage '(?P<stage>[^']+)' (?:didn't change, skipping|is cached - skipping run)")
# DVC's own closing line when a stage's command exited 2: our entry points exit 2 only after printing the user
# error in one line, so DVC's restatement of the command adds nothing
STAGE_USER_ERROR = re.compile(r"^ERROR: failed to reproduce '[^']+': failed to run: .*, exited with 2\s*$")
EXIT_USER_ERROR = 2


def relay_stderr(stream, out=None) -> tuple[threading.Thread, threading.Event]:
    """Pass DVC's stderr on line by line in a thread, except DVC's line restating a stage's user error: (the
    thread, to join once DVC exits; an event set once such a line came, the stage's own message before it)."""
    out = out or sys.stderr
    seen = threading.Event()

    def pump():
        for text in io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=""):
            if STAGE_USER_ERROR.match(text):
                seen.set()
                continue
            out.write(text)
            out.flush()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread, seen


def params(root: Path = Path(".")) -> dict:
    """The global knobs of ``params.yaml`` a DVC train stage passes (``trainer=``, ``logger=``)."""
    import yaml

    path = root / "params.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def stage_overrides(paper_kind: str, knobs: dict) -> list[str]:
    """What a DVC train stage adds to a run's overrides: the same knobs, so a run is the same run either way."""
    keys = ("logger",) if paper_kind == "experiment" else ("trainer", "logger")
    return [f"{k}={knobs[k]}" for k in keys if knobs.get(k)]


def reproduce_in_process(paper: str, scale: str, force: bool = False) -> dict:
    """Plan, train (finished runs are skipped unless ``force``), evaluate and report, without DVC."""
    from subspacelab.config import compose, paper_kind
    from subspacelab.logging_setup import quiet_known_warnings
    from subspacelab.pipeline import evaluate, report
    from subspacelab.pipeline.plan import plan
    from subspacelab.pipeline.runinfo import finished_run
    from subspacelab.pipeline.train import check_trained, run

    runs = plan(paper, scale)
    progress = Progress(len(runs))
    progress.say(f"{len(runs)} runs, in this process (no DVC: the {scale} scale changes no tracked file)")
    quiet_known_warnings()
    extra = stage_overrides(paper_kind(compose([f"paper={paper}", f"scale={scale}"])), params())
    extra += ["skip_finished=false"] if force else []
    for r in runs:
        progress.start(r.run_name)
        cfg = compose([*r.overrides, *extra])
        skipped = finished_run(cfg)[1] is not None
        try:
            check_trained(cfg, run(cfg))
        except BaseException:
            progress.finish(failed=True)
            raise
        progress.finish(skipped=skipped)
    evaluate.run(paper, scale)
    return report.run(paper, scale)


def train_runs(paper: str, scale: str, root: Path = Path(".")) -> int:
    """How many train stages of ``scale`` the paper's dvc.yaml has (its foreach keys are ``<scale>-<run>``)."""
    import yaml

    stages = yaml.safe_load((root / "pipelines" / paper / "dvc.yaml").read_text())["stages"]
    items = stages.get("train", {}).get("foreach", {})
    return sum(1 for key in items if str(key).startswith(f"{scale}-"))


class DvcFollower:
    """Turns the stage lines of ``dvc repro``'s output into progress lines; every other line passes through."""

    def __init__(self, progress: Progress, out=None):
        self.progress, self.out = progress, out or sys.stdout
        self.other: str | None = None  # a running stage that is not a training run
        self._t0 = 0.0

    def _close(self, skipped: bool = False, failed: bool = False) -> None:
        if self.other is not None:
            took = duration(time.monotonic() - self._t0)
            status = "[failed]" if failed else "[skip]" if skipped else "[done]"
            self.progress.say(f"{status} {self.other} in {took}")
            self.other = None
        else:
            self.progress.finish(skipped=skipped, failed=failed)

    def _begin(self, stage: str) -> None:
        name = stage.rpartition(":")[2]
        if name.startswith("train@"):
            self.progress.start(name.removeprefix("train@"))
        else:
            self.other, self._t0 = name, time.monotonic()
            self.progress.say(f"stage {name}")

    def line(self, text: str) -> None:
        running, skipping = RUNNING.search(text), SKIPPING.search(text)
        if running:
            self._close()
            self._begin(running["stage"])
        elif skipping:
            self._close()
            self._begin(skipping["stage"])
            self._close(skipped=True)
        else:
            self.out.write(text)
            self.out.flush()

    def end(self, ok: bool) -> None:
        self._close(failed=not ok)


def reproduce_with_dvc(paper: str, scale: str, force: bool = False) -> int:
    """``dvc repro`` the report stage of ``scale``, following its progress; DVC's exit code."""
    from subspacelab.pipeline import dvcgen
    from subspacelab.pipeline.dvclocks import repair

    # first, before anything slow: a contract or code edit changes the signature, so dvc.yaml needs no look here
    if not force and uptodate.unchanged(paper, scale):
        print(
            f"[reproduce] nothing changed since the last reproduction of {paper} at scale {scale} (no file it reads "
            "or writes was touched since): DVC not started; FORCE=1 recomputes",
            flush=True,
        )
        return 0
    dvcgen.write_if_changed(paper)
    for line in repair(Path(".")):
        print(f"[reproduce] {line}", flush=True)
    if (
        not force
    ):  # DVC's own check on this paper's stages only: seconds, where dvc repro first loads every pipeline
        print(
            f"[reproduce] checking the stages of report-{scale} and their upstream stages with DVC",
            flush=True,
        )
        if uptodate.stale_stages(paper, scale) == []:
            print(f"[reproduce] DVC finds every stage up to date: nothing to run for {paper} at scale {scale}; "
                  "FORCE=1 recomputes", flush=True)  # fmt: skip
            uptodate.record(paper, scale)
            return 0
    progress = Progress(train_runs(paper, scale))
    target = f"pipelines/{paper}/dvc.yaml:report-{scale}"
    progress.say(f"dvc repro {target} ({progress.total} runs)")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = ["dvc", "repro", *(["--force"] if force else []), target]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    except FileNotFoundError:
        raise UserError("dvc: not found on PATH; run make install (it installs DVC into .venv)") from None
    relay, user_error = relay_stderr(proc.stderr)
    follower = DvcFollower(progress)
    # newline="": a line may end in "\r" (a progress bar redrawn in place) and is passed on as it is
    for text in io.TextIOWrapper(proc.stdout, encoding="utf-8", errors="replace", newline=""):
        follower.line(text)
    rc = proc.wait()
    relay.join()
    follower.end(ok=rc == 0)
    if rc == 0:
        uptodate.record(paper, scale)
    return EXIT_USER_ERROR if rc and user_error.is_set() else rc


def main(argv=None) -> None:
    with user_errors():
        _main(argv)


def _main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paper", required=True)
    ap.add_argument("--scale", default="cpu")
    ap.add_argument("--force", action="store_true", help="recompute every run, committed runs included")
    ap.add_argument("--dvc", action="store_true", help="run the smoke scale through DVC too")
    args = ap.parse_args(argv)
    from subspacelab.pipeline.report import report_dir
    from subspacelab.pipeline.targets import check_target

    check_target(args.paper, args.scale)  # before DVC or Hydra start: names PAPER or SCALE and the valid ones
    start = time.monotonic()
    print(f"[reproduce] {args.paper} at scale {args.scale}", flush=True)
    if args.scale == "smoke" and not args.dvc:
        reproduce_in_process(args.paper, args.scale, args.force)
    else:
        rc = reproduce_with_dvc(args.paper, args.scale, args.force)
        if rc == EXIT_USER_ERROR:  # the stage said what to fix, in one line, above
            sys.exit(rc)
        if rc:
            print(f"[reproduce] dvc repro failed (exit {rc}); rerun the same command: finished runs are kept")
            sys.exit(rc)
    print(f"\n[reproduce] {args.paper} at scale {args.scale}: {duration(time.monotonic() - start)}")
    print(f"[reproduce] report: {report_dir(args.paper, args.scale) / 'comparison.md'}")


if __name__ == "__main__":
    main()
