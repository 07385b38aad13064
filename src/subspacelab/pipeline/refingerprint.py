"""``python -m subspacelab.pipeline.refingerprint --paper P [--scale cpu] --old-conf DIR``: re-record finished
training runs after the fingerprint stopped hashing the paper's contract (its claims, titles and notes change
no result, but editing a claim used to make every training run of the paper look unfinished).

For each finished run it proves that nothing a run computes with changed: the run's stored fingerprint must
equal the old definition applied to the config composed from ``DIR`` (a copy of ``conf/`` as it was when the
runs were recorded, e.g. ``git archive <rev> conf | tar -x -C /tmp/old``), and that config's result-bearing
sections must equal today's. Only then is ``metrics.json`` given today's fingerprint, the old one kept as
``fingerprint_previous``. Runs that fail either test are listed and left alone (``make reproduce-paper``
redoes them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from subspacelab.pipeline.runinfo import read_metrics, write_json


def _old_configs(paper: str, scale: str, old_conf: str) -> dict:
    """run_name -> (old fingerprint, result config without the contract), composed from ``old_conf``."""
    code = (
        "import json, sys\n"
        "from subspacelab.config import compose\n"
        "from subspacelab.pipeline.plan import grid_overrides, load_contract\n"
        "from subspacelab.pipeline.runinfo import fingerprint, result_config\n"
        f"paper, scale = {paper!r}, {scale!r}\n"
        "out = {}\n"
        "for point in grid_overrides(load_contract(paper), scale):\n"
        "    cfg = compose([f'paper={paper}', f'scale={scale}', *point])\n"
        "    out[str(cfg.run_name)] = [fingerprint(cfg, keep_contract=True), result_config(cfg)]\n"
        "json.dump(out, sys.stdout)\n"
    )
    env = {**os.environ, "SUBSPACELAB_CONF": str(Path(old_conf).resolve())}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def refingerprint(paper: str, scale: str, old_conf: str) -> tuple[list[str], list[str]]:
    from subspacelab.config import compose
    from subspacelab.pipeline.plan import plan
    from subspacelab.pipeline.runinfo import fingerprint, result_config

    old = _old_configs(paper, scale, old_conf)
    moved, refused = [], []
    for r in plan(paper, scale):
        m = read_metrics(r.run_dir)
        if m is None:
            continue
        cfg = compose(list(r.overrides))
        new_fp = fingerprint(cfg)
        if m["fingerprint"] == new_fp:
            continue
        old_fp, old_result = old.get(r.run_name, (None, None))
        same = json.loads(json.dumps(result_config(cfg), sort_keys=True, default=str)) == old_result
        if old_fp != m["fingerprint"] or not same:
            refused.append(r.run_name)
            continue
        write_json(
            Path(r.run_dir) / "metrics.json", {**m, "fingerprint": new_fp, "fingerprint_previous": old_fp}
        )
        moved.append(r.run_name)
    return moved, refused


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paper", required=True)
    ap.add_argument("--scale", default="cpu")
    ap.add_argument("--old-conf", required=True)
    args = ap.parse_args(argv)
    moved, refused = refingerprint(args.paper, args.scale, args.old_conf)
    print(
        f"[refingerprint] {args.paper}/{args.scale}: {len(moved)} runs re-recorded"
        + (f"; left alone (config differs): {', '.join(refused)}" if refused else "")
    )


if __name__ == "__main__":
    main()
