"""``python -m subspacelab.pipeline.verify --paper P [--rerun]``: check a paper's committed report against
its committed runs (``make verify PAPER=P [RERUN=1]``).

Default (cheap): re-derive the cpu-scale report from ``runs/P/cpu`` in a temporary copy (evaluate, then
report; nothing in the checkout is written) and compare each claim's verdict and measured numbers with
``reports/P/comparison.json``. A difference means the committed report is stale or the reporting code
changed what it concludes from the same runs.

``--rerun``: retrain every planned run into a scratch runs root, re-derive the report from those runs, and
compare claim by claim within a relative tolerance (``--tolerance``, per claim ``--tolerance-for id=x``),
printing what moved; the environment the committed runs recorded (``metrics.json`` ``environment``) is
compared with this machine's, since other CPUs, thread counts or library versions change the last digits.

Exit status: 0 when every verdict matches (and, with ``--rerun``, every number is within tolerance), 1 when
something moved, 2 for a usage error (no committed report or runs).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

from subspacelab.pipeline.runinfo import environment, read_metrics

SCALE = "cpu"
# environment fields whose difference explains small numerical drift
DRIFT_FIELDS = (
    ("packages", "torch"),
    ("packages", "numpy"),
    ("cpu", "model"),
    ("cpu", "torch_capability"),
    ("torch_threads",),
)


class UsageError(Exception):
    """A missing input: reported as one line, exit status 2."""


def numbers(value, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a measured value, keyed by their path (``mean_curve.100``)."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {prefix or "value": float(value)}
    out = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out |= numbers(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out |= numbers(v, f"{prefix}[{i}]")
    return out


def moved(a: float, b: float, rel: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return False
    return abs(a - b) > rel * max(abs(a), abs(b), 1e-12)


def compare_claims(committed: list[dict], derived: list[dict], tolerances: dict[str, float], default: float):
    """Lines saying what differs, claim by claim, and whether any verdict or number moved."""
    old, new = {c["id"]: c for c in committed}, {c["id"]: c for c in derived}
    lines, bad = [], False
    for cid in sorted(old.keys() | new.keys()):
        if cid not in new or cid not in old:
            lines.append(f"  {cid}: only in the {'committed' if cid in old else 're-derived'} report")
            bad = True
            continue
        a, b = old[cid], new[cid]
        rel = tolerances.get(cid, default)
        if a["verdict"] != b["verdict"]:
            lines.append(f"  {cid}: verdict {a['verdict']} -> {b['verdict']}")
            bad = True
        na, nb = numbers(a.get("measured")), numbers(b.get("measured"))
        for key in sorted(na.keys() | nb.keys()):
            x, y = na.get(key), nb.get(key)
            if x is None or y is None or moved(x, y, rel):
                lines.append(f"  {cid}: measured.{key} {x} -> {y} (tolerance {rel:g})")
                bad = True
    return lines, bad


def derive_report(paper: str, runs: Path, work: Path, reports_root: Path = Path("reports")) -> list[dict]:
    """Evaluate + report ``runs`` (a copy of a scale folder) inside ``work``; returns the claims."""
    from subspacelab.papers import registry
    from subspacelab.pipeline import evaluate, report

    runs_root, out_root = work / "runs", work / "reports"
    base = runs_root / paper / SCALE
    if runs.resolve() != base.resolve():
        shutil.copytree(runs, base, ignore=shutil.ignore_patterns("checkpoints", "wandb", "csv", ".hydra"))
    committed_dir = reports_root / paper
    (out_root / paper).mkdir(parents=True, exist_ok=True)
    for name in ("perf.json", "discussion.md"):  # inputs report reads next to the committed report
        if (committed_dir / name).is_file():
            shutil.copy(committed_dir / name, out_root / paper / name)
    try:
        evaluate.run(paper, SCALE, runs_root=str(runs_root))
    except Exception as err:  # noqa: BLE001 - an analysis whose inputs are not committed
        if not registry.get(paper).analysis or not (base / "results.json").is_file():
            raise
        print(f"[verify] analysis failed ({type(err).__name__}: {err}); keeping the committed analysis rows")
        evaluate.run(paper, SCALE, runs_root=str(runs_root), keep_analysis=True)
    out = report.run(paper, SCALE, str(runs_root), reports_root=out_root, wandb_log=False)
    return json.loads((Path(out["dir"]) / "comparison.json").read_text())["claims"]  # as committed: via JSON


def environment_notes(committed_runs: Path) -> list[str]:
    """How the environment of the committed runs differs from this machine's."""
    here = environment()
    recorded = [
        m.get("environment")
        for f in sorted(committed_runs.glob("*/metrics.json"))
        if (m := read_metrics(f.parent))
    ]
    if not any(recorded):
        return ["committed runs carry no environment record (made before provenance was recorded)"]
    notes = set()
    for env in filter(None, recorded):
        for path in DRIFT_FIELDS:
            a, b = env, here
            for key in path:
                a, b = (a or {}).get(key), (b or {}).get(key)
            if a != b:
                notes.add(f"committed runs used {'.'.join(path)}={a}, this machine {b}")
    return sorted(notes) or ["committed runs were made in this same environment (versions, CPU, threads)"]


def rerun(paper: str, scratch: Path) -> Path:
    """Train every planned cpu-scale run of ``paper`` into ``scratch`` (a runs root); returns the scale folder."""
    from subspacelab.config import compose
    from subspacelab.pipeline.plan import plan
    from subspacelab.pipeline.train import run

    for p in plan(paper, SCALE):
        run(
            compose([*p.overrides, f"runs_root={scratch}", "logger=csv", "trainer.enable_progress_bar=false"])
        )
    return scratch / paper / SCALE


def verify(
    paper: str,
    rerun_runs: bool = False,
    tolerance: float = 0.05,
    tolerances: dict[str, float] | None = None,
    runs_root: Path = Path("runs"),
    reports_root: Path = Path("reports"),
    scratch: Path | None = None,
) -> bool:
    """True when the committed report holds (see the module docstring); prints what moved."""
    committed_file = reports_root / paper / "comparison.json"
    committed_runs = runs_root / paper / SCALE
    if not committed_file.is_file():
        raise UsageError(
            f"{committed_file}: no committed report; run make reproduce-paper PAPER={paper} first"
        )
    if not committed_runs.is_dir():
        raise UsageError(f"{committed_runs}: no committed runs; run make reproduce-paper PAPER={paper} first")
    committed = json.loads(committed_file.read_text())["claims"]
    with tempfile.TemporaryDirectory(prefix="verify-") as tmp:
        if rerun_runs:
            scratch = Path(scratch or tempfile.mkdtemp(prefix=f"verify-{paper}-runs-"))
            print(f"[verify] retraining {paper}/{SCALE} into {scratch}")
            runs, default = rerun(paper, scratch), tolerance
        else:
            runs, default = committed_runs, 1e-9  # the same runs: the same numbers, up to float printing
        derived = derive_report(paper, runs, Path(tmp), reports_root)
    lines, bad = compare_claims(committed, derived, tolerances or {}, default)
    mode = "retrained runs" if rerun_runs else "committed runs"
    if rerun_runs:
        for note in environment_notes(committed_runs):
            print(f"[verify] environment: {note}")
    if bad:
        print(f"[verify] {paper}: the report re-derived from the {mode} differs from {committed_file}:")
        print("\n".join(lines))
    else:
        print(f"[verify] {paper}: all {len(committed)} claims match {committed_file} (from the {mode})")
    return not bad


def _tolerance(text: str) -> tuple[str, float]:
    cid, _, value = text.partition("=")
    try:
        return cid, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--tolerance-for {text!r}: use CLAIM_ID=relative tolerance"
        ) from None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paper", required=True)
    ap.add_argument("--rerun", action="store_true", help="retrain the runs into a scratch runs root first")
    ap.add_argument("--tolerance", type=float, default=0.05, help="relative tolerance with --rerun")
    ap.add_argument("--tolerance-for", type=_tolerance, action="append", default=[], metavar="CLAIM_ID=X")
    ap.add_argument("--scratch", type=Path, help="runs root for --rerun (default: a new temporary folder)")
    args = ap.parse_args(argv)
    try:
        ok = verify(args.paper, args.rerun, args.tolerance, dict(args.tolerance_for), scratch=args.scratch)
    except UsageError as err:
        print(f"verify: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
