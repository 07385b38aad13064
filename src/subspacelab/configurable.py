"""What a model or method built from a config declares about itself, and how a config finds it.

A model's config names its builder (``conf/model/<name>.yaml``: ``_target_: subspacelab.models.vision.LeNet``); a
method's config names one builder per task it applies to (``conf/method/full.yaml``: ``targets: {classification:
..., lm: ...}``). A builder carries the dataclass schema of its options and the task it serves, set beside its code
with :func:`configurable`. Builders are imported only when a run uses them (:func:`locate`), so a new model or
method is one new module and one new yaml file and changes no other run's code.

This module sits below everything else (no ``subspacelab`` imports): the maths modules use it to declare their
schemas, the config layer to check them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class ConfigError(ValueError):
    """The composed configuration is invalid; the message names the key."""


def require(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


def one_of(value, valid, key: str) -> None:
    require(value in valid, key, f"{value!r} is not valid; valid: {', '.join(sorted(valid))}")


def configurable(name: str, schema: type, task: str) -> Callable:
    """Declare that the decorated builder is registered as ``name``, takes the options of ``schema`` (a
    dataclass whose ``__post_init__`` checks the values) and serves runs of ``task``."""

    def declare(builder):
        builder.registered_name, builder.config_schema, builder.task = name, schema, task
        return builder

    return declare


def locate(target: Any, key: str) -> Callable:
    """The builder ``target`` (``package.module.attribute``) names, imported now; a one-line ConfigError naming
    ``key`` when it cannot be found or declares no schema."""
    require(
        isinstance(target, str) and "." in target,
        key,
        f"must name a builder as package.module.name, got {target!r}",
    )
    module, _, attr = target.rpartition(".")
    try:
        builder = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"{key}: cannot import {target!r} ({err})") from None
    require(
        hasattr(builder, "config_schema"),
        key,
        f"{target} declares no option schema (decorate it with subspacelab.configurable.configurable)",
    )
    return builder


# Keys of a model or method config that name or locate the builder rather than being its options.
NAMING_KEYS = ("_target_", "targets", "arch", "name", "tag")


def options(section: dict) -> dict:
    """A model or method config's options: what its builder is called with."""
    return {k: v for k, v in section.items() if k not in NAMING_KEYS}
