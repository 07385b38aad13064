"""``make readme``: the README's papers table, generated from ``docs/papers.yaml`` and the committed
``reports/<id>/comparison.json`` (paper claims counted apart from project checks), between the markers
``<!-- papers:start -->`` and ``<!-- papers:end -->``. ``--check`` exits 1 when the README is out of date."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from subspacelab.reporting import bibtex
from subspacelab.reporting.claims import counts

START, END = "<!-- papers:start -->", "<!-- papers:end -->"


def status(report: Path) -> tuple[str, str]:
    """(status, verdict summary) of a paper from its committed cpu report."""
    if not report.is_file():
        return "not started", ""
    claims = json.loads(report.read_text())["claims"]
    n = counts(claims)
    unimplemented = any(
        c.get("kind") == "paper" and c["verdict"] == "not_run" and "not implemented" in (c.get("note") or "")
        for c in claims
    )
    p, flags, checks = n["paper"], n["flags"], n["check"]
    summary = (
        f"{p['reproduced']} / {p['partly']} / {p['not_reproduced']} / {p['not_run']}"
        + (
            " · flagged " + ", ".join(f"{v} {k.replace('_', '-')}" for k, v in sorted(flags.items()))
            if flags
            else ""
        )
        + f" · checks {checks['reproduced']}/{sum(checks.values())}"
    )
    return ("**partial**" if unimplemented else "**done**") + " at cpu scale", summary


def table(root: Path = Path(".")) -> str:
    papers = yaml.safe_load((root / "docs" / "papers.yaml").read_text())["papers"]
    lines = [
        "| # | id | paper | family | status | paper claims: reproduced / partly / not reproduced / not run |",
        "|---|---|---|---|---|---|",
    ]
    for p in papers:
        report = root / "reports" / p["id"] / "comparison.json"
        state, summary = status(report)
        link = f" ([report](reports/{p['id']}/comparison.md))" if report.is_file() else ""
        lines.append(f"| {p['n']} | `{p['id']}` | {p['title']} | {p['family']} | {state}{link} | {summary} |")
    return "\n".join(lines)


def render(readme: str, root: Path = Path(".")) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(root)}\n{END}{tail}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    path = Path("README.md")
    text = path.read_text()
    new = render(text)
    if args.check:
        stale = []
        if new != text:
            stale.append("README.md: the papers table is out of date with reports/; run make readme")
        if not bibtex.BIB.is_file() or bibtex.BIB.read_text() != bibtex.combined():
            stale.append(
                "docs/papers.bib: out of date with src/subspacelab/papers/*/paper.bib; run make readme"
            )
        if stale:
            print("\n".join(stale), file=sys.stderr)
            sys.exit(1)
        return
    if new != text:
        path.write_text(new)
        print("[readme] papers table regenerated")
    bib = bibtex.combined()
    if not bibtex.BIB.is_file() or bibtex.BIB.read_text() != bib:
        bibtex.BIB.write_text(bib)
        print("[readme] docs/papers.bib regenerated")


if __name__ == "__main__":
    main()
