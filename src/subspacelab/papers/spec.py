"""The typed description of a paper's package, ``subspacelab.papers.<id>``.

A paper's package holds:

- ``experiment.py``: what a run stage executes. An experiment paper's ``Experiment`` dataclass (its
  fields are the schema of ``conf/experiment/<id>.yaml``; ``run(seed, out_dir, n_jobs) -> metrics``).
  A training paper has none: its runs are the shared Lightning tasks. The only paper code a run depends on.
- ``analysis.py`` (when ``Paper.analysis``): ``analyze(ctx) -> rows``, run by the evaluate stage over the
  finished runs; ``ctx`` (:class:`AnalysisContext`) gives the contract, the rows and each run's model.
- ``claims.py``: ``RULES``, the derive rules named in the contract (``fn(claim, rows) -> Verdict``).
- ``figures.py``: ``figures(rows, out_dir) -> [png paths]`` and ``tables(rows) -> markdown``.
- ``NOTES.md``: the caveats the report states, one bullet each.
- ``__init__.py``: ``PAPER = Paper(...)``, registered in :mod:`subspacelab.papers.registry`.

Editing claims, figures or notes re-runs only the evaluate and report stages, never a run: ``__init__``
imports none of them, and each is loaded here only when the report needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

Rule = Callable[[dict, list[dict]], tuple]


class FinishedRun(Protocol):
    """One finished run, as the evaluate stage hands it to an analysis."""

    metrics: dict
    run_dir: Path

    @property
    def cfg(self) -> Any: ...  # the run's composed config

    def build(
        self, seed: int | None = None
    ) -> tuple[Any, Any]: ...  # (data module, LightningModule), untrained

    def load_trained(self) -> tuple[Any, Any]: ...  # the same with the run's trained weights (model.pt)


class AnalysisContext(Protocol):
    """What the evaluate stage gives a paper's ``analyze``: no paper composes configs or imports the pipeline."""

    paper: str
    scale: str
    contract: Any  # the paper's contract (DictConfig)
    spec: dict  # the contract's ``analysis`` section merged with the scale's
    rows: list[dict]  # every finished run's metrics
    runs_dir: Path

    @property
    def runs(self) -> list[FinishedRun]: ...

    def config(self, *overrides: str) -> Any: ...  # this paper's config at this scale, with overrides


@dataclass(frozen=True)
class Paper:
    """A paper's package, declared in its ``__init__.py``. ``analysis``: it has ``analysis.analyze``."""

    id: str
    title: str
    analysis: bool = False

    @property
    def package(self) -> str:
        return f"{__package__}.{self.id}"

    @property
    def directory(self) -> Path:
        return Path(__file__).resolve().parent / self.id

    def module(self, part: str) -> ModuleType:
        """``subspacelab.papers.<id>.<part>`` (experiment, analysis, claims, figures)."""
        return importlib.import_module(f"{self.package}.{part}")

    def rules(self) -> Mapping[str, Rule]:
        return self.module("claims").RULES

    def analyze(self, ctx: AnalysisContext) -> list[dict]:
        return list(self.module("analysis").analyze(ctx)) if self.analysis else []

    def figures(self, rows: list[dict], out_dir: Path) -> list[Path]:
        return list(self.module("figures").figures(rows, out_dir))

    def tables(self, rows: list[dict]) -> str:
        return self.module("figures").tables(rows)

    def notes(self) -> list[str]:
        """The bullets of ``NOTES.md`` (a bullet may wrap over several lines)."""
        path = self.directory / "NOTES.md"
        return parse_notes(path.read_text()) if path.is_file() else []


def parse_notes(text: str) -> list[str]:
    """Bullets (``- ``) of a markdown list, continuation lines joined; headings and blank lines ignored."""
    notes: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("- "):
            notes.append(s[2:].strip())
        elif s and not s.startswith("#") and notes and line[:1].isspace():
            notes[-1] += " " + s
    return notes
