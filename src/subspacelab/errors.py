"""User errors: one place that turns a mistake the user can fix into one line on stderr and exit code 2.

Every entry point (train, reproduce, sweep, evaluate, report) runs through :func:`cli` (or
:func:`user_errors`). An exception is a *user error* when its class (or a base class) is listed in
``FORMATS``: a bad config value or key, an unknown paper/scale/option, a refused budget, missing data.
Anything else is a bug and keeps its traceback. ``HYDRA_FULL_ERROR=1`` shows the traceback of a user
error too. This module imports nothing heavy (torch, Hydra): classes are looked up in loaded modules.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EXIT_USER_ERROR = 2
FULL_ERROR_ENV = "HYDRA_FULL_ERROR"


class UserError(Exception):
    """A mistake the user can fix; the message names the key or file and the fix."""


def _flat(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _missing_option(exc) -> str:
    """Hydra: ``model=nosuch`` -> the group, the bad option and the valid ones."""
    missing = getattr(exc, "missing_cfg_file", None) or ""
    group, _, option = missing.rpartition("/")
    options = list(getattr(exc, "options", None) or [])
    if group and options:
        return f"{group}={option}: no such option; valid: {', '.join(options)}"
    return _flat(str(exc).split("Config search path")[0])


def _bad_override(exc) -> str:
    """Hydra could not parse an override string."""
    message = str(getattr(exc, "message", exc)).splitlines()[0]
    return f"override {getattr(exc, 'override', '')!r}: {message}; write key=value (Hydra override grammar)"


def _composition(exc) -> str:
    """Hydra could not apply an override, typically to a key that does not exist."""
    first = str(exc).splitlines()[0]
    if first.startswith("Could not override '"):
        key = first.split("'")[1]
        return (
            f"{key}: not a config key; check the spelling "
            f"(`make show-config` prints every key; +{key}=... adds a new one)"
        )
    cause = f" ({_flat(exc.__cause__).split(' full_key')[0]})" if exc.__cause__ else ""
    return _flat(first) + cause


def _as_is(exc) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return _flat(text)


# (module, class, how to say it in one line): the classes of user errors, subclasses included. A class is
# looked up only in a module already imported: an exception of a module never imported cannot have been raised.
FORMATS: tuple[tuple[str, str, Callable[[BaseException], str]], ...] = (
    ("subspacelab.errors", "UserError", _as_is),
    ("subspacelab.config", "ConfigError", _as_is),  # ContractError too
    ("subspacelab.papers.registry", "UnknownPaper", _as_is),
    ("subspacelab.data.mirror", "DataUnavailableError", _as_is),
    ("subspacelab.data.integrity", "DataIntegrityError", _as_is),
    ("subspacelab.subspace.projections", "ProjectionBudgetError", _as_is),
    ("subspacelab.clustering.baselines", "MemoryBudgetExceeded", _as_is),
    ("hydra.errors", "MissingConfigException", _missing_option),
    ("hydra.errors", "OverrideParseException", _bad_override),
    ("hydra.errors", "ConfigCompositionException", _composition),
)


def one_line(exc: BaseException) -> str | None:
    """The one-line message of a user error; None when ``exc`` is not one (a bug)."""
    for module, name, fmt in FORMATS:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return fmt(exc)
    return None


_user_full_error: bool | None = (
    None  # the user's own HYDRA_FULL_ERROR, while user_errors(hydra=True) overrides it
)


def full_errors_wanted() -> bool:
    """Whether the user asked for tracebacks (``HYDRA_FULL_ERROR=1``)."""
    if _user_full_error is not None:
        return _user_full_error
    return os.environ.get(FULL_ERROR_ENV) == "1"


@contextmanager
def user_errors(hydra: bool = False) -> Iterator[None]:
    """Print a user error raised inside as one line on stderr and exit 2; re-raise anything else.

    ``hydra=True`` (around ``@hydra.main``): Hydra's own error printer, which exits 1, is bypassed by
    setting ``HYDRA_FULL_ERROR=1`` inside, so that Hydra re-raises; the user's own setting still decides
    whether the traceback is shown. Entry points that start subprocesses leave it unset (they inherit it)."""
    global _user_full_error
    wanted, outer = full_errors_wanted(), _user_full_error
    before = os.environ.get(FULL_ERROR_ENV)
    if hydra:
        _user_full_error = wanted
        os.environ[FULL_ERROR_ENV] = "1"
    try:
        yield
    except Exception as exc:
        line = one_line(exc)
        if line is None or wanted:
            raise
        print(line, file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USER_ERROR) from None
    finally:
        _user_full_error = outer
        if before is None:
            os.environ.pop(FULL_ERROR_ENV, None)
        else:
            os.environ[FULL_ERROR_ENV] = before


def cli(main: Callable[..., object], *args, **kwargs) -> None:
    """Run an entry point's ``main`` under :func:`user_errors`."""
    with user_errors():
        main(*args, **kwargs)
