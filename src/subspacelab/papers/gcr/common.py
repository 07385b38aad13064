"""What the GCR report's rules, tables and figures share: head names and the tagging of rows by head and k."""

from __future__ import annotations

import re

HEADS = ("softmax", "cosine", "gcr")
LABELS = {"softmax": "softmax", "cosine": "cosine softmax", "gcr": "GCR"}
DATA_LABELS = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10 (stand-in)"}

_TAG = re.compile(r"-(softmax|cosine|gcr)(\d+)?$")


def head_of(row: dict) -> tuple[str, int | None]:
    """(head, k) from a run's model tag, e.g. ``resnet8-gcr8`` -> ("gcr", 8)."""
    m = _TAG.search(str(row.get("model", "")))
    if not m:
        raise ValueError(f"not a GCR-paper model tag: {row.get('model')!r}")
    return m.group(1), int(m.group(2)) if m.group(2) else None


def trained_runs(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") != "analysis" and r.get("test_acc") is not None]


def analysis_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") == "analysis"]


def tagged(rows: list[dict], analysis: bool) -> list[dict]:
    """The runs (or the analysis rows) with ``_head`` and ``_k``."""
    out = []
    for r in analysis_rows(rows) if analysis else trained_runs(rows):
        head, k = (r["head"], r["k"]) if analysis else head_of(r)
        out.append({**r, "_head": head, "_k": k})
    return out


def values(rows: list[dict], key: str, data: str, head: str, k: int | None = None) -> list[float]:
    """Per-seed values of ``key`` for one dataset and head (``k``: that subspace dimension only)."""
    return [r[key] for r in rows if r["data"] == data and r["_head"] == head and (k is None or r["_k"] == k)]


def datasets(rows: list[dict]) -> list[str]:
    return sorted({r["data"] for r in rows})
