"""Success curves of the finished runs, pooled over seeds: the 50%-success points the claims and figures use."""

from __future__ import annotations

import statistics

from subspacelab.papers.blind_calibration.experiment import METHODS, crossing


def variant_of(row: dict) -> str | None:
    return row.get("experiment", {}).get("variant", row.get("variant"))


def cv(v: list[float]) -> float:
    mean = statistics.fmean(v)
    return statistics.pstdev(v) / mean if mean else float("inf")


def rho_of(row: dict) -> float | None:
    return row.get("experiment", {}).get("rho", row.get("rho"))


def selected(row: dict, select: dict | None) -> bool:
    cfg = row.get("experiment", {})
    return all(cfg.get(k) == v for k, v in (select or {}).items())


def pooled_curves(
    rows: list[dict], variant: str, method: str, select: dict | None = None
) -> dict[tuple, dict]:
    """(n, m, h, k, rho) -> {"p": [...], "rate": [...], "unknowns": int, "m": int}, trials pooled over
    seeds and over runs with the same sizes. ``select``: experiment fields every pooled run must match."""
    acc: dict[tuple, dict[int, list[int]]] = {}
    meta: dict[tuple, tuple[int, int]] = {}
    for row in rows:
        if variant_of(row) != variant or not selected(row, select):
            continue
        for q in row.get("points", []):
            if q["method"] != method:
                continue
            key = (q["n"], q["m"], q["h"], q["k"], rho_of(row))
            s = acc.setdefault(key, {}).setdefault(q["p"], [0, 0])
            s[0] += q["successes"]
            s[1] += q["trials"]
            meta[key] = (row.get("unknowns", q["n"] + q["m"]), q["m"])
    out = {}
    for key, by_p in acc.items():
        ps = sorted(by_p)
        out[key] = {
            "p": ps,
            "rate": [by_p[p][0] / by_p[p][1] for p in ps],
            "successes": [by_p[p][0] for p in ps],
            "trials": [by_p[p][1] for p in ps],
            "unknowns": meta[key][0],
            "m": meta[key][1],
        }
    return out


def transitions(
    rows: list[dict], variant: str, method: str = "pgd", select: dict | None = None
) -> dict[str, dict]:
    """Per size: p50 (raw snapshots) and r50 = m p50 / unknowns (the paper's normalised units)."""
    out = {}
    for (n, m, h, k, rho), c in sorted(pooled_curves(rows, variant, method, select).items()):
        p50 = crossing(c["p"], c["rate"])
        name = f"n{n}-m{m}" + (f"-h{h}-k{k}" if variant == "priors" else "") + f"-rho{rho}"
        out[name] = {
            "p50": p50,
            "r50": None if p50 is None else p50 * m / c["unknowns"],
            "unknowns": c["unknowns"],
            "m": m,
        }
    return out


def baseline_table(rows: list[dict], select: dict | None = None) -> dict[str, dict[str, float | None]]:
    """r50 (mp/(n+m) units) per size for every method run: the PGD vs ALS vs linear-LS comparison
    (no paper claim; for the report)."""
    table: dict[str, dict[str, float | None]] = {}
    for method in METHODS:
        for name, v in transitions(rows, "plain", method, select).items():
            table.setdefault(name, {})[method] = v["r50"]
    return table
