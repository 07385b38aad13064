"""Compose a run config: the Hydra defaults, then the paper contract's settings for the chosen
scale (or the params file's, with ``params_file=``), then the user's overrides (which always win).

The contract's settings are applied as Hydra overrides placed *before* the user's, so the
precedence is Hydra's own. A contract setting for a key that the chosen option lacks (e.g.
``method.projection`` when ``method=full``) does not apply to that run and is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from subspacelab.config.params_file import read_settings
from subspacelab.config.schema import ConfigError


def _find_conf_dir() -> Path:
    env = os.environ.get("SUBSPACELAB_CONF")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd() / "conf", Path(__file__).resolve().parents[3] / "conf"]
    for c in candidates:
        if (c / "config.yaml").is_file():
            return c.resolve()
    raise FileNotFoundError(f"no conf/config.yaml found (looked in {', '.join(map(str, candidates))})")


CONF_DIR = _find_conf_dir()


def override_key(override: str) -> str:
    """The config key an override string sets: ``+a.b=1`` -> ``a.b``."""
    return override.split("=", 1)[0].lstrip("+~")


def override_value(value) -> str:
    """A Python/OmegaConf value in Hydra's override grammar."""
    if isinstance(value, ListConfig | DictConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str) and any(ch in value for ch in " ,:[]{}()='\""):
        return "'" + value.replace("'", "\\'") + "'"
    return str(value)


def _settings(cfg: DictConfig) -> dict:
    """The contract's settings for the run's scale (the paper's, then the scale's), or, when the run names a
    ``params_file`` (as DVC's train stages do), that file's section for the scale."""
    paper, scale = cfg.paper, cfg.scale.name
    scales = paper.get("scales") or {}
    if scale not in scales:
        raise ConfigError(f"scale: paper {paper.id} has no scale {scale!r}; valid: {', '.join(scales)}")
    if cfg.get("params_file"):
        return read_settings(cfg.params_file, scale)

    def unresolved(node):  # interpolations such as run_name: ${experiment.tag} resolve in the run's config
        return OmegaConf.to_container(node, resolve=False) if node else {}

    merged = unresolved(paper.get("settings"))
    merged.update(unresolved(scales[scale].get("settings")))
    return merged


GROUPS = ("data", "model", "method", "trainer", "logger", "scale", "paper")


def _applies(cfg: DictConfig, dotted: str) -> bool:
    """Whether a contract setting applies: its key exists, or it belongs to a group option that lacks it."""
    parent, _, leaf = dotted.rpartition(".")
    node = OmegaConf.select(cfg, parent)
    if isinstance(node, DictConfig) and leaf in node:
        return True
    if dotted.split(".", 1)[0] in GROUPS:
        return False  # e.g. method.projection while method=full
    raise ConfigError(f"paper settings: {dotted!r} is not a config key")


def contract_overrides(hydra_compose, user: Sequence[str]) -> list[str]:
    """The full override list for a run: contract settings (minus those the user sets) + user's."""
    user = list(user)
    user_keys = {override_key(o) for o in user}
    settings = _settings(hydra_compose(user))
    groups = [f"{k}={override_value(v)}" for k, v in settings.items() if "." not in k and k not in user_keys]
    cfg = hydra_compose(groups + user)
    dotted = [
        f"{k}={override_value(v)}"
        for k, v in settings.items()
        if "." in k and k not in user_keys and _applies(cfg, k)
    ]
    return groups + dotted + user


@contextmanager
def _hydra():
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside @hydra.main or an outer initialize
        yield
    else:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            yield


class CachedComposer:
    """Compose many runs quickly: Hydra composes once per distinct set of config-group choices,
    the remaining ``key=value`` overrides (parsed by Hydra's own override parser) are applied with
    OmegaConf. For planning grids, not for training (a run is always composed by Hydra itself).
    ``choices(overrides)`` gives the option chosen in each config group."""

    def __init__(self):
        self._cache: dict[tuple, tuple[DictConfig, dict]] = {}

    def _base(self, overrides: Sequence[str]) -> tuple[DictConfig, dict]:
        from hydra import compose as hydra_compose

        picked = {override_key(o): o for o in overrides if override_key(o) in GROUPS}  # last one wins
        groups = tuple(picked[k] for k in sorted(picked))
        if groups not in self._cache:
            with _hydra():
                cfg = hydra_compose(config_name="config", overrides=list(groups), return_hydra_config=True)
            choices = dict(cfg.hydra.runtime.choices)
            # keep only what planning reads of the contract: copies stay cheap
            p = cfg.paper
            slim = {
                "id": p.id,
                "kind": p.get("kind"),
                "settings": p.get("settings"),
                "scales": {k: {"settings": v.get("settings")} for k, v in p.scales.items()},
            }
            with open_dict(cfg):
                del cfg["hydra"]
                cfg.paper = slim
            self._cache[groups] = (cfg, choices)
        return self._cache[groups]

    def choices(self, overrides: Sequence[str]) -> dict:
        return self._base(overrides)[1]

    def __call__(self, overrides: Sequence[str]) -> DictConfig:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        cfg = self._base(overrides)[0].copy()
        parser = OverridesParser.create()
        for o in overrides:
            if override_key(o) not in GROUPS:
                parsed = parser.parse_override(o)
                OmegaConf.update(cfg, parsed.key_or_group, parsed.value(), merge=False)
        return cfg


def compose(overrides: Iterable[str] = ()) -> DictConfig:
    """The resolved-on-demand run config for ``overrides`` (Hydra syntax)."""
    from hydra import compose as hydra_compose

    with _hydra():

        def _compose(ovr):
            return hydra_compose(config_name="config", overrides=list(ovr))

        return _compose(contract_overrides(_compose, list(overrides)))
