"""``make status PAPER=<id> [SCALE=cpu]``: one paper's DVC pipeline at a glance.

``dvc status`` run inside ``pipelines/<id>`` lists the stages of every ``dvc.yaml`` in the repository, one line
per changed file. This asks DVC about that paper's stages only (``dvc status --json dvc.yaml``), keeps the chosen
scale's, and says per stage kind (train, evaluate, report) how many are up to date and, for the others, why,
grouped: code, configs, params, data not prepared yet, runs, outputs missing or edited.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from subspacelab.errors import UserError, user_errors
from subspacelab.pipeline.targets import check_target

KINDS = ("train", "evaluate", "report")


def stage_kind(stage: str) -> str:
    """``train@cpu-mnist-s0`` -> ``train``; ``report-cpu`` -> ``report``."""
    if "@" in stage:
        return stage.split("@", 1)[0]
    return stage.rpartition("-")[0] or stage


def stage_scale(stage: str) -> str | None:
    """The scale a stage belongs to: ``train@cpu-…`` and ``report-cpu`` -> ``cpu``; None for shared stages."""
    if "@" in stage:
        return stage.split("@", 1)[1].split("-", 1)[0]
    head, _, tail = stage.rpartition("-")
    return tail if head in ("evaluate", "report") else None


def reason_of(path: str, change: str) -> str:
    """What kind of dependency a changed path is, in a user's words (``path`` relative to the pipeline's
    folder, as DVC prints it)."""
    path = path.removeprefix("../../")
    if path.startswith("src/"):
        return "code"
    if path.startswith(("conf/", "params.yaml")):
        return "configs"
    if path.startswith("pipelines/") and path.endswith("/params.yaml"):
        return "params"  # the paper's hyperparameters (pipelines/<id>/params.yaml)
    if path.startswith("data/"):
        return "data not prepared yet" if change == "deleted" else "data"
    if path.startswith("runs/"):
        return "runs"
    return "other files"


def reasons(entries) -> Counter:
    """Counts of why one stage is stale, from its ``dvc status --json`` entries."""
    why: Counter = Counter()
    for entry in entries:
        if isinstance(entry, str):  # "changed command", "always changed"
            why[entry] += 1
            continue
        for path, change in (entry.get("changed deps") or {}).items():
            why[reason_of(path, change)] += 1
        for _path, change in (entry.get("changed outs") or {}).items():
            why[f"outputs {change}"] += 1
    return why


def summarise(status: Mapping[str, list], stages: list[str], recorded: set[str], scale: str) -> list[str]:
    """One line per stage kind of ``scale``. ``status``: ``dvc status --json``; ``stages``: every stage name of the
    paper's dvc.yaml; ``recorded``: the stages its dvc.lock holds (the others have never run)."""
    ours = [s for s in stages if stage_scale(s) == scale]
    lines = []
    for kind in KINDS:
        named = [s for s in ours if stage_kind(s) == kind]
        if not named:
            continue
        stale = [s for s in named if s in status]
        if not stale:
            lines.append(f"{kind}: {len(named)} of {len(named)} up to date")
            continue
        why: Counter = Counter()
        for s in stale:
            why.update({"never run"} if s not in recorded else set(reasons(status[s])))
        because = ", ".join(f"{n} {reason}" if len(stale) > 1 else reason for reason, n in why.most_common())
        shown = ", ".join(stale[:3]) + (f" and {len(stale) - 3} more" if len(stale) > 3 else "")
        lines.append(
            f"{kind}: {len(named) - len(stale)} of {len(named)} up to date; to rerun: {shown} (why: {because})"
        )
    return lines


def stage_names(paper: str, root: Path = Path(".")) -> list[str]:
    """Every stage of ``pipelines/<paper>/dvc.yaml``, foreach items expanded as DVC names them."""
    import yaml

    spec = yaml.safe_load((root / "pipelines" / paper / "dvc.yaml").read_text())
    names = []
    for name, stage in (spec.get("stages") or {}).items():
        items = (stage.get("foreach") or {}) if isinstance(stage, dict) else {}
        names += [f"{name}@{key}" for key in items] if items else [name]
    return names


def recorded_stages(paper: str, root: Path = Path(".")) -> set[str]:
    """The stages ``pipelines/<paper>/dvc.lock`` holds (none before the first run)."""
    import yaml

    lock = root / "pipelines" / paper / "dvc.lock"
    return set((yaml.safe_load(lock.read_text()) or {}).get("stages") or {}) if lock.is_file() else set()


def dvc_status(paper: str) -> dict:
    try:
        proc = subprocess.run(
            ["dvc", "status", "--json", "dvc.yaml"],
            cwd=Path("pipelines", paper),
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        raise UserError("dvc: not found on PATH; run make install (it installs DVC into .venv)") from None
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise UserError(f"pipelines/{paper}/dvc.yaml: dvc status failed: {last}")
    out = proc.stdout.strip()
    return json.loads(out[out.index("{") :]) if "{" in out else {}


def main(argv=None) -> None:
    with user_errors():
        ap = argparse.ArgumentParser(description=__doc__)
        ap.add_argument("--paper", required=True)
        ap.add_argument("--scale", default="cpu")
        args = ap.parse_args(argv)
        check_target(args.paper, args.scale)
        status = dvc_status(args.paper)
        lines = summarise(status, stage_names(args.paper), recorded_stages(args.paper), args.scale)
        print(f"[status] {args.paper} at scale {args.scale}")
        for line in lines or ["no stages at this scale"]:
            print(f"  {line}")
        if any("data not prepared yet" in line for line in lines):
            print(f"  (make reproduce-paper PAPER={args.paper} SCALE={args.scale} prepares the data first)")


if __name__ == "__main__":
    main()
