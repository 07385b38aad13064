"""``make new-paper ID=<id> KIND=training|experiment``: a new paper's skeleton from ``papers/_template/``.

Writes the package ``src/subspacelab/papers/<id>/``, its contract ``conf/paper/<id>.yaml`` (and
``conf/experiment/<id>.yaml``, written from its ``Experiment`` dataclass, for an experiment paper), ``tests/papers/test_<id>.py``, registers the id in
``papers/registry.py`` and generates ``pipelines/<id>/dvc.yaml`` and ``params.yaml``. The skeleton passes ``make test`` as written.
Nothing is written when the id is taken or invalid.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PAPERS = ROOT / "src" / "subspacelab" / "papers"
TEMPLATE = PAPERS / "_template"
KINDS = ("training", "experiment")


def _fill(name: str, paper_id: str, title: str, kind: str) -> str:
    text = (TEMPLATE / name).read_text()
    experiment_import = (
        f"from subspacelab.papers.{paper_id}.experiment import Experiment  # noqa: F401\n"
        if kind == "experiment"
        else ""
    )
    metric = "captured" if kind == "experiment" else "test_acc"
    return (
        text.replace("__EXPERIMENT_IMPORT__", experiment_import)
        .replace("__METRIC__", metric)
        .replace("__TITLE__", title)
        .replace("__ID__", paper_id)
    )


def files(paper_id: str, title: str, kind: str, root: Path = ROOT) -> dict[Path, str]:
    """Every file of the skeleton, path -> text."""
    pkg = root / "src" / "subspacelab" / "papers" / paper_id
    out = {
        pkg / "__init__.py": _fill("init.py.tmpl", paper_id, title, kind),
        pkg / "claims.py": _fill("claims.py.tmpl", paper_id, title, kind),
        pkg / "figures.py": _fill("figures.py.tmpl", paper_id, title, kind),
        pkg / "NOTES.md": _fill("NOTES.md.tmpl", paper_id, title, kind),
        root / "conf" / "paper" / f"{paper_id}.yaml": _fill(
            f"contract_{kind}.yaml.tmpl", paper_id, title, kind
        ),
        root / "tests" / "papers" / f"test_{paper_id}.py": _fill("test_paper.py.tmpl", paper_id, title, kind),
    }
    if kind == "experiment":
        out[pkg / "experiment.py"] = _fill("experiment.py.tmpl", paper_id, title, kind)
    return out


def register(paper_id: str, registry: Path) -> str:
    """The registry's text with ``paper_id`` added to ``PAPER_IDS`` in sorted order."""
    text = registry.read_text()
    block = re.search(r"PAPER_IDS = \(\n(.*?)\n\)", text, re.S)
    ids = sorted({*re.findall(r'"(\w+)"', block.group(1)), paper_id})
    body = "\n".join(f'    "{i}",' for i in ids)
    return text[: block.start(1)] + body + text[block.end(1) :]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--id", required=True, help="snake_case paper id, e.g. mmcr")
    ap.add_argument("--kind", default="experiment", choices=KINDS)
    ap.add_argument("--title", default=None)
    args = ap.parse_args(argv)
    paper_id = args.id
    if not re.fullmatch(r"[a-z][a-z0-9_]*", paper_id):
        print(
            f"ID: {paper_id!r} is not a snake_case identifier (letters, digits, _; starting with a letter)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    out = files(paper_id, args.title or paper_id.replace("_", " ").title(), args.kind)
    taken = [str(p.relative_to(ROOT)) for p in out if p.exists()]
    if taken or (PAPERS / f"{paper_id}.py").exists():
        print(
            f"ID: paper {paper_id!r} exists already ({', '.join(taken) or paper_id + '.py'}); choose another id",
            file=sys.stderr,
        )
        raise SystemExit(2)
    registry = PAPERS / "registry.py"
    new_registry = register(paper_id, registry)
    for path, text in out.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    registry.write_text(new_registry)
    from subspacelab.config import experiment_yaml
    from subspacelab.pipeline import dvcgen

    importlib.invalidate_caches()
    written = list(out)
    if args.kind == "experiment":  # its defaults: the yaml written from the new Experiment dataclass
        written += experiment_yaml.stale(ROOT / "conf", ids=[paper_id], write=True)
    dvcgen.main([paper_id])
    for path in written:
        print(f"[new-paper] wrote {path.relative_to(ROOT)}")
    print(
        f"[new-paper] registered {paper_id}; next: docs/adding-a-paper.md, then make reproduce-paper PAPER={paper_id}"
    )


if __name__ == "__main__":
    main()
