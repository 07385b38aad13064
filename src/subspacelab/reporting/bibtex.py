"""BibTeX entries of the reproduced papers, read from ``docs/papers.bib`` (keyed by paper id).

``entry(paper_id)`` gives one paper's entry as BibTeX text, or ``None`` where the file has none; the
report renderer and the results site show it. ``fields(text)`` reads an entry's fields back, for checks.
"""

from __future__ import annotations

import re
from pathlib import Path

BIB = Path(__file__).resolve().parents[3] / "docs" / "papers.bib"

_HEAD = re.compile(r"^@(\w+)\s*\{\s*([^,\s]+)\s*,", re.MULTILINE)
_FIELD = re.compile(r"^\s*(\w+)\s*=\s*", re.MULTILINE)


def _closing_brace(text: str, start: int) -> int:
    """Index of the brace closing the one opened just before ``start``."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced braces in the BibTeX entry starting at character {start}")


def parse(text: str) -> dict[str, str]:
    """Every entry of a BibTeX file: key -> the entry's text, ``@type{`` to its closing brace."""
    out: dict[str, str] = {}
    for m in _HEAD.finditer(text):
        end = _closing_brace(text, text.index("{", m.start()) + 1)
        key = m.group(2)
        if key in out:
            raise ValueError(f"BibTeX key {key!r} appears twice")
        out[key] = text[m.start() : end + 1]
    return out


def fields(entry_text: str) -> dict[str, str]:
    """An entry's fields, names lower-cased, values without their outer braces."""
    out: dict[str, str] = {}
    for m in _FIELD.finditer(entry_text):
        rest = entry_text[m.end() :]
        if not rest.startswith("{"):
            continue
        close = _closing_brace(rest, 1)
        out[m.group(1).lower()] = rest[1:close]
    return out


def entry_type(entry_text: str) -> str:
    """``article``, ``inproceedings``, ``misc``, ...: the entry's type, lower-cased."""
    m = _HEAD.match(entry_text)
    if not m:
        raise ValueError("not a BibTeX entry: it must start with @type{key,")
    return m.group(1).lower()


def entries(path: Path = BIB) -> dict[str, str]:
    """All entries of ``path`` (``docs/papers.bib`` by default), keyed by paper id; {} without the file."""
    path = Path(path)
    return parse(path.read_text(encoding="utf-8")) if path.is_file() else {}


def entry(paper_id: str, path: Path = BIB) -> str | None:
    """The BibTeX entry of one paper, e.g. ``entry("intrinsic_dimension")``, or None without one."""
    return entries(path).get(paper_id)
