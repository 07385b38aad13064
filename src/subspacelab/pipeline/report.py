"""``python -m subspacelab.pipeline.report --paper P --scale S``: claims vs measurements, plots, W&B.

Writes ``reports/<paper>/`` for the cpu scale (committed) and ``reports/<paper>/<scale>/`` for the
others: ``comparison.md``, ``comparison.json`` and PNG plots; refreshes ``reports/README.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from omegaconf import OmegaConf

from subspacelab.errors import cli
from subspacelab.papers import registry
from subspacelab.pipeline.evaluate import results_path
from subspacelab.pipeline.runinfo import write_json
from subspacelab.pipeline.targets import check_target
from subspacelab.reporting import bibtex, evaluate_claims
from subspacelab.reporting.claims import counts
from subspacelab.reporting.render import comparison_markdown

REPORTS = Path("reports")


def report_dir(paper: str, scale: str, reports_root: Path = REPORTS) -> Path:
    return reports_root / paper if scale == "cpu" else reports_root / paper / scale


def _notes(contract, scale: str, rows: list[dict], paper_notes=()) -> list[str]:
    notes = list(paper_notes)
    provs = {json.dumps(r.get("data_provenance", {}), sort_keys=True) for r in rows}
    for p in map(json.loads, sorted(provs)):  # sorted: the same report every time
        if p and not p.get("exact", True):
            notes.append(f"Data: {p.get('note')} (source {p.get('source')}).")
        elif p:
            extra = (
                f"; tokenizer {p['tokenizer']} with {p['vocab_size']} tokens" if p.get("tokenizer") else ""
            )
            notes.append(
                f"Data: {p.get('dataset') or p.get('name')} from {p.get('source')} (byte-exact{extra})."
            )

    def plain(node):  # an empty DictConfig is falsy: test for None, not truth
        return {} if node is None else OmegaConf.to_container(node, resolve=True)

    settings = plain(contract.scales[scale].get("settings"))
    base = plain(contract.get("settings"))
    defaults = (
        f"the defaults of conf/experiment/{contract.id}.yaml"
        if contract.get("kind") == "experiment"
        else "the defaults its config groups compose"
    )
    notes.append(
        f"Settings of every run: {json.dumps(base) if base else defaults}; "
        f"at this scale: {json.dumps(settings) if settings else 'nothing more'}; each run's grid values on top."
    )
    return notes


def _log_to_wandb(paper: str, scale: str, claims: list[dict], plots: list[Path], runs_dir: Path) -> None:
    import os

    import wandb

    from subspacelab.pipeline.loggers import wandb_mode

    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(
        project="subspacelab",
        group=paper,
        job_type="report",
        name=f"report-{paper}-{scale}",
        dir=str(runs_dir),
        mode=wandb_mode(None),
        reinit=True,
    )
    table = wandb.Table(columns=["claim", "kind", "flags", "paper", "measured", "verdict"])
    for c in claims:
        table.add_data(
            c["id"],
            c.get("kind"),
            ",".join(c.get("flags") or {}),
            str(c["paper_value"]),
            json.dumps(c["measured"], default=str)[:500],
            c["verdict"],
        )
    run.log({"claims": table, **{p.stem: wandb.Image(str(p)) for p in plots}})
    run.finish()


INDEX_HEADER = (
    "| paper | reproduced | partly | not reproduced | not run | flagged (reconstructed / post hoc / "
    "stand-in) | project checks passed |"
)


def index_rows(reports_root: Path = REPORTS) -> list[str]:
    """One markdown row per paper with a cpu report: paper-claim verdicts, flags, and checks apart."""
    lines = [INDEX_HEADER, "|---|---|---|---|---|---|---|"]
    for f in sorted(reports_root.glob("*/comparison.json")):
        n = counts(json.loads(f.read_text())["claims"])
        p, fl, ch = n["paper"], n["flags"], n["check"]
        flagged = " / ".join(str(fl.get(k, 0)) for k in ("reconstructed", "post_hoc", "stand_in"))
        lines.append(
            f"| [{f.parent.name}]({f.parent.name}/comparison.md) | {p['reproduced']} | {p['partly']} | "
            f"{p['not_reproduced']} | {p['not_run']} | {flagged} | {ch['reproduced']} of {sum(ch.values())} |"
        )
    return lines


def update_index(reports_root: Path = REPORTS) -> Path:
    """reports/README.md: every paper's verdicts at the cpu scale, paper claims only; checks in their column."""
    lines = [
        "# Reports",
        "",
        "Verdicts of the papers' own claims at the cpu scale (see each paper's `comparison.md`). "
        "Project checks (time budgets, properties true by construction, sanity checks) are counted apart and "
        "never as reproduced results; flags count paper claims whose verdict is qualified.",
        "",
        *index_rows(reports_root),
    ]
    out = reports_root / "README.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def run(
    paper: str, scale: str, runs_root: str = "runs", reports_root: Path = REPORTS, wandb_log: bool = True
) -> dict:
    from subspacelab.config import compose

    cfg = compose([f"paper={paper}", f"scale={scale}"])
    contract = cfg.paper
    table = json.loads(results_path(paper, scale, runs_root).read_text())
    rows = table["runs"] + table.get("analysis", [])  # a paper's analysis rows join its runs'
    out_dir = report_dir(paper, scale, reports_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = registry.get(paper)
    claims = evaluate_claims(contract.claims, rows, scale, spec.rules())
    plots = spec.figures(rows, out_dir) if rows else []
    perf_file = report_dir(paper, "cpu", reports_root) / "perf.json"
    perf = json.loads(perf_file.read_text()) if perf_file.is_file() else None
    meta = {
        "paper": paper,
        "scale": scale,
        "scale_description": cfg.scale.description,
        "title": contract.get("title", paper),
        "authors": contract.get("authors"),
        "venue": contract.get("venue"),
        "arxiv": contract.get("arxiv"),
        "code": contract.get("code"),
        "n_runs": len(table["runs"]),
        "n_missing": len(table.get("missing", [])),
    }
    notes = _notes(contract, scale, rows, spec.notes())
    tables = spec.tables(rows) if rows else None
    discussion = report_dir(paper, "cpu", reports_root) / "discussion.md"
    write_json(
        out_dir / "comparison.json", {**meta, "counts": counts(claims), "claims": claims, "notes": notes}
    )
    (out_dir / "comparison.md").write_text(
        comparison_markdown(
            meta,
            claims,
            notes,
            [str(p) for p in plots],
            perf,
            rows,
            tables=tables,
            discussion=discussion.is_file(),
            out_dir=out_dir,
            reports_root=reports_root,
            bibtex=bibtex.entry(paper),
        )
    )
    if scale == "cpu":
        update_index(reports_root)
    if wandb_log:
        _log_to_wandb(paper, scale, claims, plots, Path(runs_root) / paper / scale)
    n = counts(claims)
    said = ", ".join(f"{v} {k}" for k, v in n["paper"].items() if v)
    print(f"[report] {out_dir / 'comparison.md'}: paper claims {said}; checks {sum(n['check'].values())}")
    return {"dir": str(out_dir), "claims": claims}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paper", required=True)
    ap.add_argument("--scale", default="cpu")
    ap.add_argument("--runs-root", default="runs")
    ap.add_argument("--no-wandb", action="store_true")
    args = ap.parse_args(argv)
    check_target(args.paper, args.scale)
    run(args.paper, args.scale, args.runs_root, wandb_log=not args.no_wandb)


if __name__ == "__main__":
    cli(main)  # a user error: one line on stderr, exit code 2
