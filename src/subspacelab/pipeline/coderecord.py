"""The code a model or method runs, as a DVC-tracked record: ``data/code/<group>-<name>.json``.

A training run depends on the run machinery (the same for every run of a task) and on the code of the one model
and one method it builds. DVC's ``foreach`` stages cannot list per-run dependency files, so each model and method
gets its own small stage (``pipelines/code/dvc.yaml``, generated) whose dependencies are exactly the source files
its builder imports and whose output is this record of their SHA-256 hashes; a run depends on the records of its
model and method. Editing a model's module re-runs the runs that build it; adding a model or method adds a stage
and re-runs nothing.

``python -m subspacelab.pipeline.coderecord <model|method> <config name>`` writes one record.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import yaml

from subspacelab.config.compose import CONF_DIR
from subspacelab.pipeline.codedeps import module_files

GROUPS = ("model", "method")
RECORDS = Path("data/code")


def config_names(group: str) -> list[str]:
    """Every option of a config group (``conf/<group>/*.yaml``)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _own_config(group: str, name: str) -> dict:
    """``conf/<group>/<name>.yaml`` with the options it inherits through its ``defaults`` list."""
    own = yaml.safe_load((CONF_DIR / group / f"{name}.yaml").read_text()) or {}
    merged: dict = {}
    for parent in own.pop("defaults", []):
        if isinstance(parent, str) and parent != "_self_":
            merged.update(_own_config(group, parent))
    merged.update(own)
    return merged


def builders(group: str, name: str) -> list[str]:
    """The builders a model (``_target_``) or method (``targets``, one per task) config names."""
    cfg = _own_config(group, name)
    targets = [cfg["_target_"]] if group == "model" else list((cfg.get("targets") or {}).values())
    if not targets or not all(isinstance(t, str) for t in targets):
        raise ValueError(
            f"conf/{group}/{name}.yaml names no builder (_target_ for a model, targets for a method)"
        )
    return targets


def code_files(group: str, name: str) -> list[str]:
    """The source files the builders of ``conf/<group>/<name>.yaml`` import, transitively."""
    modules = sorted({target.rpartition(".")[0] for target in builders(group, name)})
    return module_files(*modules)


def record_path(group: str, name: str) -> str:
    return str(RECORDS / f"{group}-{name}.json")


def record(group: str, name: str, root: Path = Path(".")) -> dict:
    return {
        "config": f"conf/{group}/{name}.yaml",
        "builders": builders(group, name),
        "files": {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in code_files(group, name)},
    }


def stages() -> dict:
    """One stage per model and method config: its code files in, its record out."""
    out = {}
    for group in GROUPS:
        for name in config_names(group):
            out[f"{group}-{name}"] = {
                "cmd": f"python -m subspacelab.pipeline.coderecord {group} {name}",
                "wdir": "../..",
                "deps": code_files(group, name),
                "outs": [{record_path(group, name): {"cache": False}}],
            }
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("group", choices=GROUPS)
    ap.add_argument("name")
    args = ap.parse_args(argv)
    if args.name not in config_names(args.group):
        valid = ", ".join(config_names(args.group))
        print(f"{args.group}: no conf/{args.group}/{args.name}.yaml; valid: {valid}", file=sys.stderr)
        raise SystemExit(2)
    path = Path(record_path(args.group, args.name))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record(args.group, args.name), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    main()
