"""Composing, validating and expanding configs (Hydra + OmegaConf)."""

from subspacelab.config.compose import CONF_DIR, compose, contract_overrides
from subspacelab.config.schema import ConfigError, build_experiment, paper_kind, validate

__all__ = [
    "CONF_DIR",
    "ConfigError",
    "build_experiment",
    "compose",
    "contract_overrides",
    "paper_kind",
    "validate",
]
