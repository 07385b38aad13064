"""Expand a paper contract into its runs: one override list per grid point, per scale.

A scale's ``grid`` is a list of groups; each group is the Cartesian product of its value lists
(e.g. ``{model: [fc, lenet], method.d: [100, 200], seed: [0, 1]}`` is 8 runs).
"""

from __future__ import annotations

import copy
import functools
import itertools
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from subspacelab.config.compose import override_value


@dataclass(frozen=True)
class PlannedRun:
    overrides: tuple[str, ...]  # Hydra overrides, paper= and scale= included
    run_dir: str
    run_name: str


def load_contract(paper: str) -> DictConfig:
    """The paper's contract as composed into a run's config (its ``paper`` node). Composed once per process for
    each state of the config tree (generating a paper's files asks for it many times; Hydra takes about a second);
    each caller gets its own copy."""
    return copy.deepcopy(_composed_contract(paper, _conf_signature())).paper


def _conf_signature() -> tuple:
    """What the config tree is now: every YAML file under conf/ with its size and modification time."""
    from subspacelab.config.compose import CONF_DIR

    return tuple(
        (str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(Path(CONF_DIR).rglob("*.yaml"))
    )


@functools.lru_cache(maxsize=64)
def _composed_contract(paper: str, signature: tuple) -> DictConfig:
    from subspacelab.config import compose

    return compose([f"paper={paper}", "scale=smoke"])


def grid_overrides(contract: DictConfig, scale: str) -> list[list[str]]:
    """One override list per run of ``scale`` (without paper= and scale=)."""
    if scale not in contract.scales:
        raise KeyError(f"paper {contract.id} has no scale {scale!r}; valid: {', '.join(contract.scales)}")
    runs = []
    for group in contract.scales[scale].grid:
        g = OmegaConf.to_container(group, resolve=True)
        keys = list(g)
        for values in itertools.product(*(g[k] for k in keys)):
            runs.append([f"{k}={override_value(v)}" for k, v in zip(keys, values, strict=True)])
    return runs


def plan(paper: str, scale: str) -> list[PlannedRun]:
    """Every run of a paper at a scale, with the run directory each will write (the contract is validated
    first: a misspelt rule or a missing field fails here, naming the key)."""
    from subspacelab.config.compose import CachedComposer, contract_overrides
    from subspacelab.config.contract import check

    check(paper)
    contract = load_contract(paper)
    composer = CachedComposer()
    out = []
    for ovr in grid_overrides(contract, scale):
        full = [f"paper={paper}", f"scale={scale}", *ovr]
        cfg = composer(contract_overrides(composer, full))
        out.append(PlannedRun(tuple(full), str(cfg.run_dir), str(cfg.run_name)))
    names = [r.run_dir for r in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"grid of {paper}/{scale} maps several runs to the same directory: {sorted(dupes)}")
    return out


def multirun_commands(paper: str, scale: str) -> list[list[str]]:
    """The grid as Hydra multirun sweeps, one per group: ``key=v1,v2`` for every key."""
    contract = load_contract(paper)
    cmds = []
    for group in contract.scales[scale].grid:
        g = OmegaConf.to_container(group, resolve=True)
        sweep = [f"{k}={','.join(override_value(v) for v in vals)}" for k, vals in g.items()]
        cmds.append([f"paper={paper}", f"scale={scale}", *sweep])
    return cmds
