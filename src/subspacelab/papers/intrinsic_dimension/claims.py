"""Derive rules for the intrinsic-dimension claims: d_int of one model, the order of two, the spread of several."""

from __future__ import annotations

from subspacelab.papers.intrinsic_dimension.dint import dint, grid_steps_apart
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, factor_apart, not_run


def _value(m: dict) -> str:
    seeds = ", ".join(str(v) for v in m["per_seed"].values())
    if m["curve_value"] is None:
        return f"not reached (per seed: {seeds})"
    mean = f"{m['mean']:.0f}" if m["mean"] is not None else "-"
    sd = f" ± {m['sd']:.0f}" if m.get("sd") is not None else ""
    return f"{m['curve_value']} (seed mean {mean}{sd}, n={m['n']}; per seed: {seeds})"


def rule_dint(claim: dict, rows: list[dict]) -> Verdict:
    """d_int of the seed-averaged curve within ``tolerance.reproduced`` (``partly``) times the paper's value."""
    dv = claim["derive"]
    m = dint(rows, dv["select"], dv["threshold"])
    if not m["n_seeds"]:
        return not_run("no runs match this claim's selection")
    notes = []
    if m["curve_value"] is None:
        notes.append(f"threshold {m['threshold']:.4f} not reached within the grid (max d = {max(m['grid'])})")
    missed = [s for s, v in m["per_seed"].items() if v is None]
    if missed:
        notes.append(f"seeds {missed} never reach the threshold")
    tol = claim.get("tolerance") or {}
    verdict = NOT
    if m["curve_value"] is not None:
        r = factor_apart(m["curve_value"], float(claim["paper_value"]))
        verdict = (
            REPRODUCED if r <= tol.get("reproduced", 1.5) else PARTLY if r <= tol.get("partly", 3.0) else NOT
        )
    return Verdict({**m, "value": _value(m)}, verdict, "; ".join(notes))


def rule_dint_less_than(claim: dict, rows: list[dict]) -> Verdict:
    """The ``smaller`` model's d_int is below the ``larger`` one's, on the mean curve and for every seed."""
    dv = claim["derive"]
    small, large = dint(rows, dv["smaller"], dv["threshold"]), dint(rows, dv["larger"], dv["threshold"])
    if not small["n_seeds"] or not large["n_seeds"]:
        return not_run("no runs for one of the two models")
    s, big = small["curve_value"], large["curve_value"]
    holds = s is not None and (big is None or s < big)
    seeds = sorted(set(small["per_seed"]) & set(large["per_seed"]))
    per_seed = {k: (small["per_seed"][k], large["per_seed"][k]) for k in seeds}
    every_seed = all(a is not None and (b is None or a < b) for a, b in per_seed.values())
    measured = {
        "smaller": s,
        "larger": big,
        "per_seed": per_seed,
        "n": len(seeds),
        "value": f"{s} < {big} (n={len(seeds)} seeds)" if holds else f"{s} vs {big} (n={len(seeds)} seeds)",
    }
    verdict = REPRODUCED if holds and every_seed and len(seeds) >= 2 else PARTLY if holds else NOT
    note = "" if every_seed else "does not hold for every seed"
    return Verdict(measured, verdict, note or ("one seed: at most partly" if len(seeds) < 2 else ""))


def rule_dint_spread(claim: dict, rows: list[dict]) -> Verdict:
    """The groups' d_int lie within ``max_grid_steps`` grid points of each other (partly: within twice that)."""
    dv = claim["derive"]
    values, grid = {}, None
    for sel in dv["groups"]:
        m = dint(rows, sel, dv["threshold"])
        if m["n_seeds"]:
            values[sel.get("model", str(sel))] = m["curve_value"]
            grid = sorted(set(grid or []) | set(m["grid"]))
    if len(values) < 2:
        return not_run("fewer than two groups were run", values=values)
    if any(v is None for v in values.values()):
        return Verdict({"values": values, "value": str(values)}, NOT, "a group never reaches the threshold")
    lo, hi = min(values.values()), max(values.values())
    steps = grid_steps_apart(grid, lo, hi)
    limit = int(dv.get("max_grid_steps", 1))
    verdict = REPRODUCED if steps <= limit else PARTLY if steps <= 2 * limit else NOT
    return Verdict(
        {"values": values, "grid_steps_apart": steps, "value": f"{lo}-{hi} ({steps} grid steps)"}, verdict, ""
    )


RULES = {"dint": rule_dint, "dint_less_than": rule_dint_less_than, "dint_spread": rule_dint_spread}
