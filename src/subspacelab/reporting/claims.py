"""Evaluate a paper's claims against measured runs and give each an honest verdict.

Verdicts: ``reproduced``, ``partly``, ``not_reproduced``, or ``not_run`` (with the reason).
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from subspacelab.reporting import derive

REPRODUCED, PARTLY, NOT, NOT_RUN = "reproduced", "partly", "not_reproduced", "not_run"
VERDICTS = (REPRODUCED, PARTLY, NOT, NOT_RUN)


def _plain(x):
    return OmegaConf.to_container(x, resolve=True) if isinstance(x, DictConfig) else x


def _by_factor(measured: float | None, paper: float, tol: dict) -> str:
    if measured is None:
        return NOT
    r = derive.ratio(measured, paper)
    if r <= tol.get("reproduced", 1.5):
        return REPRODUCED
    return PARTLY if r <= tol.get("partly", 3.0) else NOT


def _dint(claim: dict, rows: list[dict]) -> tuple[dict, str, str]:
    dv = claim["derive"]
    m = derive.dint(rows, dv["select"], dv["threshold"])
    if not m["n_seeds"]:
        return m, NOT_RUN, "no runs match this claim's selection"
    note = ""
    if m["curve_value"] is None:
        note = f"threshold {m['threshold']:.4f} not reached within the grid (max d = {max(m['grid'])})"
    missed = [s for s, v in m["per_seed"].items() if v is None]
    if missed:
        note += f"; seeds {missed} never reach the threshold" if note else f"seeds {missed} never reach the threshold"
    verdict = _by_factor(m["curve_value"], float(claim["paper_value"]), claim.get("tolerance", {}))
    return m, verdict, note


def _dint_less_than(claim: dict, rows: list[dict]) -> tuple[dict, str, str]:
    dv = claim["derive"]
    small = derive.dint(rows, dv["smaller"], dv["threshold"])
    large = derive.dint(rows, dv["larger"], dv["threshold"])
    if not small["n_seeds"] or not large["n_seeds"]:
        return {}, NOT_RUN, "no runs for one of the two models"
    s, big = small["curve_value"], large["curve_value"]
    holds = s is not None and (big is None or s < big)
    seeds = sorted(set(small["per_seed"]) & set(large["per_seed"]))
    per_seed = {k: (small["per_seed"][k], large["per_seed"][k]) for k in seeds}
    every_seed = all(a is not None and (b is None or a < b) for a, b in per_seed.values())
    measured = {"smaller": s, "larger": big, "per_seed": per_seed, "value": f"{s} < {big}" if holds else f"{s} vs {big}"}
    verdict = REPRODUCED if holds and every_seed else PARTLY if holds else NOT
    return measured, verdict, "" if every_seed else "does not hold for every seed"


def _dint_spread(claim: dict, rows: list[dict]) -> tuple[dict, str, str]:
    dv = claim["derive"]
    values, grid = {}, None
    for sel in dv["groups"]:
        m = derive.dint(rows, sel, dv["threshold"])
        if m["n_seeds"]:
            values[sel.get("model", str(sel))] = m["curve_value"]
            grid = sorted(set(grid or []) | set(m["grid"]))
    if len(values) < 2:
        return {"values": values}, NOT_RUN, "fewer than two groups were run"
    if any(v is None for v in values.values()):
        return {"values": values}, NOT, "a group never reaches the threshold"
    lo, hi = min(values.values()), max(values.values())
    steps = derive.grid_steps_apart(grid, lo, hi)
    limit = int(dv.get("max_grid_steps", 1))
    verdict = REPRODUCED if steps <= limit else PARTLY if steps <= 2 * limit else NOT
    return {"values": values, "grid_steps_apart": steps, "value": f"{lo}-{hi} ({steps} grid steps)"}, verdict, ""


def _total_minutes_below(claim: dict, rows: list[dict]) -> tuple[dict, str, str]:
    minutes = sum(r.get("process_seconds") or 0 for r in rows) / 60
    limit = float(claim["derive"]["limit"])
    note = "sum of the train stages' process times (start-up included); installing the venv is not counted"
    return {"value": round(minutes, 1), "mean": minutes}, REPRODUCED if minutes < limit else NOT, note


RULES = {
    "dint": _dint,
    "dint_less_than": _dint_less_than,
    "dint_spread": _dint_spread,
    "total_minutes_below": _total_minutes_below,
}


def evaluate_claim(claim, rows: list[dict], scale: str, rules: dict | None = None) -> dict:
    """One claim's verdict. ``rules``: a paper's own derive rules (its module's ``RULES``), looked up
    before the shared ones."""
    claim = _plain(claim)
    rule = claim["derive"]["rule"]
    known = {**RULES, **(rules or {})}
    if rule not in known:
        raise KeyError(f"claim {claim['id']}: unknown derive rule {rule!r}; valid: {', '.join(sorted(known))}")
    out = {k: claim.get(k) for k in ("id", "statement", "paper_value", "source", "derive")}
    out["scale"] = scale
    scales = claim.get("scales")
    if scales and scale not in scales:
        out.update(measured=None, verdict=NOT_RUN, note=f"measured only at scale {', '.join(scales)}")
        return out
    if not rows:
        out.update(measured=None, verdict=NOT_RUN, note="no runs at this scale")
        return out
    measured, verdict, note = known[rule](claim, rows)
    if verdict not in VERDICTS:
        raise ValueError(f"claim {claim['id']}: rule {rule!r} gave verdict {verdict!r}; valid: {', '.join(VERDICTS)}")
    out.update(measured=measured, verdict=verdict, note=note)
    return out


def evaluate_claims(claims, rows: list[dict], scale: str, rules: dict | None = None) -> list[dict]:
    return [evaluate_claim(c, rows, scale, rules) for c in claims]
