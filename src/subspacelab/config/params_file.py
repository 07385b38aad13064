"""A paper's params file (``pipelines/<id>/params.yaml``): the settings each scale's runs get, in the form DVC
tracks as params.

One section per scale, nested the way DVC shows and sets params (``cpu.experiment.steps``); config-group
choices (``data=mnist``) sit under ``groups``, so that ``data: mnist`` and ``data.train_size: 2048`` can live
side by side. A run composed with ``params_file=<path>`` takes its scale's section instead of the contract's
settings (see ``compose.contract_overrides``): the DVC train stages do, so ``dvc params diff``, ``dvc exp show``
and ``dvc exp run -S '<path>:cpu.experiment.steps=500'`` see and change what the runs use. The file is written
from the contract by ``make dvc-yaml`` and ``make check`` fails while the two differ.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from subspacelab.configurable import ConfigError

GROUPS_KEY = "groups"


def nest(settings: dict) -> dict:
    """Dotted settings as a nested section: ``{"a.b": 1, "data": "mnist"}`` -> ``{"a": {"b": 1}, "groups":
    {"data": "mnist"}}`` (an undotted key is a config-group choice)."""
    out: dict = {}
    for key, value in settings.items():
        if "." not in key:
            out.setdefault(GROUPS_KEY, {})[key] = value
            continue
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"setting {key!r}: {p!r} is both a value and a section")
        node[leaf] = value
    return out


def flatten(section: dict) -> dict:
    """The inverse of :func:`nest`: group choices first, then dotted keys in the file's order."""
    out = dict(section.get(GROUPS_KEY) or {})

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value

    walk({k: v for k, v in section.items() if k != GROUPS_KEY}, "")
    return out


def read_settings(path: str | Path, scale: str) -> dict:
    """The dotted settings of ``scale`` in the params file at ``path``; a missing file or scale is a
    ConfigError naming it and the fix."""
    path = Path(path)
    fix = "regenerate it with make dvc-yaml PAPER=<id>"
    if not path.is_file():
        raise ConfigError(f"params_file: {path} does not exist; {fix}")
    try:
        sections = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(
            f"params_file: {path} is not valid YAML ({err.__class__.__name__}); {fix}"
        ) from None
    if not isinstance(sections, dict) or scale not in sections:
        raise ConfigError(f"params_file: {path} has no section for scale {scale!r}; {fix}")
    return flatten(sections[scale] or {})
