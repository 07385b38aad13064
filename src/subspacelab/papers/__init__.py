"""A paper's own code beside the shared pipeline: ``subspacelab.papers.<id>``.

An experiment paper (``kind: experiment``) must have one, defining:

- ``Experiment``: a dataclass whose fields are the schema of ``conf/experiment/<id>.yaml`` and whose
  ``run(seed, out_dir, n_jobs) -> dict`` does one run and returns its metrics.

Any paper may have one, defining any of:

- ``analyze(rows, runs_dir, scale) -> list[dict]``: run by the evaluate stage over the finished runs
  (e.g. comparing trained checkpoints); its rows join the runs' rows for the claims;
- ``RULES``: derive rules for the paper's claims, ``name -> fn(claim, rows) -> (measured, verdict, note)``;
- ``plots(rows, out_dir) -> list[Path]``, ``tables(rows) -> str`` and ``NOTES`` (caveats the report states).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def paper_module(paper: str) -> ModuleType | None:
    """``subspacelab.papers.<paper>`` if the paper has its own code, else None."""
    name = f"{__name__}.{paper}"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None
