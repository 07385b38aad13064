"""Evaluate a paper's claims against measured runs and give each an honest verdict.

Each claim of a contract names a derive rule (the paper's ``claims.RULES`` or a shared one below), its
``kind`` (``paper``: the paper's statement with its published value; ``check``: the project's own) and
``flags`` (``{reconstructed|post_hoc|stand_in: why}``). The evaluated row keeps all three beside the
verdict, so a report can never show a passed check as a reproduced paper result.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from subspacelab.reporting.verdict import NOT, NOT_RUN, PARTLY, REPRODUCED, VERDICTS, Verdict

__all__ = ["NOT", "NOT_RUN", "PARTLY", "REPRODUCED", "RULES", "VERDICTS", "evaluate_claim", "evaluate_claims"]


def _plain(x):
    return OmegaConf.to_container(x, resolve=True) if isinstance(x, DictConfig) else x


def total_minutes_below(claim: dict, rows: list[dict]) -> Verdict:
    """The sum of the run stages' process times (start-up included) is under ``derive.limit`` minutes."""
    minutes = sum(r.get("process_seconds") or 0 for r in rows) / 60
    limit = float(claim["derive"]["limit"])
    note = "sum of the train stages' process times (start-up included); installing the venv is not counted"
    return Verdict(
        {"value": round(minutes, 1), "mean": minutes}, REPRODUCED if minutes < limit else NOT, note
    )


RULES = {"total_minutes_below": total_minutes_below}

CARRIED = ("id", "kind", "statement", "paper_value", "source", "criterion", "derive")


def evaluate_claim(claim, rows: list[dict], scale: str, rules: dict | None = None) -> dict:
    """One claim's verdict. ``rules``: the paper's derive rules, looked up before the shared ones."""
    claim = _plain(claim)
    rule = claim["derive"]["rule"]
    known = {**RULES, **(rules or {})}
    if rule not in known:
        raise KeyError(
            f"claim {claim['id']}: unknown derive rule {rule!r}; valid: {', '.join(sorted(known))}"
        )
    out = {k: claim.get(k) for k in CARRIED}
    out["flags"] = dict(claim.get("flags") or {})
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
        raise ValueError(
            f"claim {claim['id']}: rule {rule!r} gave verdict {verdict!r}; valid: {', '.join(VERDICTS)}"
        )
    out.update(measured=measured, verdict=verdict, note=note)
    return out


def evaluate_claims(claims, rows: list[dict], scale: str, rules: dict | None = None) -> list[dict]:
    return [evaluate_claim(c, rows, scale, rules) for c in claims]


def counts(claims: list[dict]) -> dict:
    """Verdict counts of paper claims and of checks apart, and how many paper claims carry each flag."""
    out: dict = {"paper": dict.fromkeys(VERDICTS, 0), "check": dict.fromkeys(VERDICTS, 0), "flags": {}}
    for c in claims:
        out[c.get("kind") or "paper"][c["verdict"]] += 1
        if (c.get("kind") or "paper") == "paper":
            for f in c.get("flags") or {}:
                out["flags"][f] = out["flags"].get(f, 0) + 1
    return out
