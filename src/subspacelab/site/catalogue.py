"""Every paper of ``docs/papers.yaml`` with what its committed cpu report says (or that it has none)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from subspacelab.pipeline.readme import status
from subspacelab.reporting.claims import counts

PLOT_SUFFIXES = (".png", ".svg")
NOT_IMPLEMENTED = "not yet implemented"


@dataclass(frozen=True)
class Paper:
    """One paper: its place in ``docs/papers.yaml`` and, when reported, its claims' verdict counts."""

    n: int
    id: str
    title: str
    family: str
    state: str = NOT_IMPLEMENTED  # "done" | "partial" | NOT_IMPLEMENTED
    report_dir: Path | None = None
    report: dict = field(default_factory=dict)
    paper_counts: dict = field(default_factory=dict)  # verdict -> number of the paper's own claims
    check_counts: dict = field(default_factory=dict)  # verdict -> number of project checks
    flags: dict = field(default_factory=dict)  # flag -> number of paper claims carrying it

    @property
    def reported(self) -> bool:
        return self.report_dir is not None

    @property
    def verdicts(self) -> list[str]:
        """The verdicts at least one of the paper's own claims received."""
        return [v for v, k in self.paper_counts.items() if k]

    @property
    def plots(self) -> list[Path]:
        """The report's figures (PNG and SVG files in ``reports/<id>/``), sorted by name."""
        if not self.reported:
            return []
        return sorted(p for p in self.report_dir.iterdir() if p.suffix.lower() in PLOT_SUFFIXES)


def load_paper(entry: dict, reports: Path) -> Paper:
    """A ``docs/papers.yaml`` entry joined with ``reports/<id>/comparison.json`` where it exists."""
    base = {k: entry[k] for k in ("n", "id", "title", "family")}
    report_json = reports / entry["id"] / "comparison.json"
    if not report_json.is_file():
        return Paper(**base)
    report = json.loads(report_json.read_text())
    n = counts(report["claims"])
    state_text, _ = status(report_json)  # "**done** at cpu scale" or "**partial** at cpu scale"
    return Paper(
        **base,
        state="partial" if "partial" in state_text else "done",
        report_dir=report_json.parent,
        report=report,
        paper_counts=n["paper"],
        check_counts=n["check"],
        flags=n["flags"],
    )


def load(root: Path = Path(".")) -> list[Paper]:
    """All papers in ``docs/papers.yaml`` order, each with its report's counts where it has one."""
    entries = yaml.safe_load((root / "docs" / "papers.yaml").read_text())["papers"]
    return [load_paper(e, root / "reports") for e in entries]
