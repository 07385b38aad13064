"""The schema of a paper's contract, ``conf/paper/<id>.yaml``, checked in well under a second.

Checked when a grid is planned and by ``make dvc-yaml`` / ``make check``: unique claim ids; every
claim's required fields; its ``kind`` and ``flags``; its derive rule exists (the paper's ``claims.RULES``
or a shared rule); valid scales with grids of value lists. Errors name the file and the key.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from subspacelab.config.schema import ConfigError
from subspacelab.reporting.verdict import FLAGS as VERDICT_FLAGS
from subspacelab.reporting.verdict import KINDS

SCALES = ("smoke", "cpu", "paper")
FLAGS = tuple(VERDICT_FLAGS)  # the flags and kinds a report knows (subspacelab.reporting.verdict)
TOP_LEVEL = ("id", "title", "claims", "scales")
CLAIM_FIELDS = ("id", "kind", "statement", "source", "criterion", "derive")


class ContractError(ConfigError):
    """An invalid contract: the message names the file and the key."""


def contract_path(paper: str, conf_dir: Path | None = None) -> Path:
    from subspacelab.config.compose import CONF_DIR

    return Path(conf_dir or CONF_DIR) / "paper" / f"{paper}.yaml"


def load(paper: str, conf_dir: Path | None = None) -> dict:
    path = contract_path(paper, conf_dir)
    if not path.is_file():
        raise ContractError(f"{path}: no such contract (make new-paper ID={paper} writes one)")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ContractError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None


def problems(contract: dict, rules: set[str] | None = None) -> list[str]:
    """Every problem of a contract (empty when valid), each naming its key. ``rules``: the derive rule
    names that exist (None: not checked)."""
    out = [f"{k}: required" for k in TOP_LEVEL if k not in contract]
    scales = contract.get("scales") or {}
    if not isinstance(scales, dict):
        return [*out, "scales: must map a scale name to its settings and grid"]
    for name, scale in scales.items():
        if name not in SCALES:
            out.append(f"scales.{name}: unknown scale; valid: {', '.join(SCALES)}")
            continue
        grid = (scale or {}).get("grid")
        if not isinstance(grid, list) or not grid:
            out.append(f"scales.{name}.grid: must be a non-empty list of groups")
            continue
        for i, group in enumerate(grid):
            if not isinstance(group, dict) or not all(isinstance(v, list) and v for v in group.values()):
                out.append(f"scales.{name}.grid[{i}]: each key needs a non-empty list of values")
    seen: set[str] = set()
    for i, claim in enumerate(contract.get("claims") or []):
        where = f"claims[{i}]" + (
            f" ({claim.get('id')})" if isinstance(claim, dict) and claim.get("id") else ""
        )
        if not isinstance(claim, dict):
            out.append(f"{where}: must be a mapping")
            continue
        out += [f"{where}.{k}: required" for k in CLAIM_FIELDS if claim.get(k) in (None, "")]
        cid = claim.get("id")
        if cid in seen:
            out.append(f"{where}.id: duplicate claim id {cid!r}")
        seen.add(cid)
        kind = claim.get("kind")
        if kind is not None and kind not in KINDS:
            out.append(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
        if kind == "paper" and claim.get("paper_value") in (None, ""):
            out.append(f"{where}.paper_value: required for a paper claim (the published value)")
        flags = claim.get("flags") or {}
        if not isinstance(flags, dict):
            out.append(f"{where}.flags: must map a flag to why it applies, e.g. {{stand_in: '20k images'}}")
        else:
            for f, why in flags.items():
                if f not in FLAGS:
                    out.append(f"{where}.flags.{f}: unknown flag; valid: {', '.join(FLAGS)}")
                elif not isinstance(why, str) or not why.strip():
                    out.append(f"{where}.flags.{f}: say why (a non-empty string)")
        derive = claim.get("derive")
        if derive is not None and not (isinstance(derive, dict) and derive.get("rule")):
            out.append(f"{where}.derive.rule: required")
        elif derive is not None and rules is not None and derive["rule"] not in rules:
            out.append(
                f"{where}.derive.rule: unknown rule {derive['rule']!r}; valid: {', '.join(sorted(rules))}"
            )
        for s in claim.get("scales") or []:
            if s not in scales:
                out.append(f"{where}.scales: {s!r} is not a scale of this contract")
    if not seen:
        out.append("claims: a contract needs at least one claim")
    return out


def known_rules(paper: str) -> set[str]:
    from subspacelab.papers import registry
    from subspacelab.reporting.claims import RULES

    return set(RULES) | set(registry.get(paper).rules())


def check(paper: str, conf_dir: Path | None = None) -> dict:
    """The contract of ``paper``, validated; raises :class:`ContractError` listing every problem."""
    contract = load(paper, conf_dir)
    found = problems(contract, known_rules(paper))
    if contract.get("id") not in (None, paper):
        found.insert(0, f"id: {contract['id']!r} differs from the file name {paper!r}")
    if found:
        path = contract_path(paper, conf_dir)
        raise ContractError(f"{path}: " + "; ".join(found))
    return contract
