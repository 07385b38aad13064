"""What the ULSAM report's rules, tables and figures share: variant names and the two kinds of rows."""

from __future__ import annotations

VARIANTS = ("none", "insert", "replace")
LABELS = {"none": "baseline", "insert": "+ULSAM (inserted)", "replace": "ULSAM-compact (replacing blocks)"}
NET_LABELS = {"mobilenet_v1": "MobileNet-V1", "mobilenet_v2": "MobileNet-V2"}


def variant_of(row: dict) -> str:
    tag = str(row.get("model", ""))
    for v in VARIANTS:
        if tag.endswith(f"-{v}"):
            return v
    raise ValueError(f"not an ULSAM-paper model tag: {tag!r}")


def trained_runs(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") != "analysis" and r.get("test_acc") is not None]


def cost_table(rows: list[dict]) -> dict[tuple[str, float], dict[str, dict]]:
    """(arch, width) -> variant -> the analysis row counting it."""
    table: dict[tuple[str, float], dict[str, dict]] = {}
    for r in rows:
        if r.get("kind") == "analysis":
            table.setdefault((r["arch"], r["width_mult"]), {})[r["ulsam"]] = r
    return table


def change(new: float, old: float) -> float:
    return new / old - 1
