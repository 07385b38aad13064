"""Composing, validating and expanding configs (Hydra + OmegaConf)."""

from subspacelab.config.compose import CONF_DIR, compose, contract_overrides
from subspacelab.config.schema import ConfigError, validate

__all__ = ["CONF_DIR", "ConfigError", "compose", "contract_overrides", "validate"]
