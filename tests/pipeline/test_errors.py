"""One error style: a user error is one line on stderr and exit code 2; a bug keeps its traceback. And the known
harmless warnings are silenced in one place while others still show."""

import logging
import warnings

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

from subspacelab.config import ConfigError
from subspacelab.data.mirror import DataUnavailableError
from subspacelab.errors import EXIT_USER_ERROR, UserError, cli, one_line, user_errors
from subspacelab.logging_setup import quiet_known_warnings
from subspacelab.papers.registry import UnknownPaper
from subspacelab.subspace.projections import ProjectionBudgetError


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (ConfigError("method.d: must be > 0"), "method.d: must be > 0"),
        (
            UnknownPaper("paper 'x' is not registered; known: a, b"),
            "paper 'x' is not registered; known: a, b",
        ),
        (
            DataUnavailableError("mnist is not in data/raw\nset the mirror"),
            "mnist is not in data/raw set the mirror",
        ),
        (ProjectionBudgetError("over method.dense_max_mib"), "over method.dense_max_mib"),
        (UserError("SCALE: no scale 'huge'"), "SCALE: no scale 'huge'"),
        (
            MissingConfigException(
                "In 'config': Could not find 'model/nosuch'\n...", "model/nosuch", ["fc", "lenet"]
            ),
            "model=nosuch: no such option; valid: fc, lenet",
        ),
        (
            OverrideParseException("a=[", "no viable alternative at input '['\nSee https://hydra.cc"),
            "override 'a=[': no viable alternative at input '['; write key=value (Hydra override grammar)",
        ),
        (
            ConfigCompositionException(
                "Could not override 'data.foo'.\nTo append to your config use +data.foo=1"
            ),
            "data.foo: not a config key; check the spelling (`make show-config` prints every key; +data.foo=... "
            "adds a new one)",
        ),
    ],
)
def test_each_kind_of_user_error_is_said_in_one_line(exc, line):
    assert one_line(exc) == line


@pytest.mark.parametrize("exc", [ValueError("x"), KeyError("k"), ZeroDivisionError(), RuntimeError("boom")])
def test_a_bug_is_not_a_user_error(exc):
    assert one_line(exc) is None


def test_user_errors_exits_2_with_one_line_and_reraises_bugs(capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def refuse():
        raise ConfigError("trainer.max_steps: must be > 0, or -1")

    with pytest.raises(SystemExit) as exit_:
        cli(refuse)
    assert exit_.value.code == EXIT_USER_ERROR
    assert capsys.readouterr().err == "trainer.max_steps: must be > 0, or -1\n"
    with pytest.raises(ZeroDivisionError), user_errors():
        _ = 1 / 0


def test_hydra_full_error_keeps_the_traceback_and_is_restored(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError), user_errors(hydra=True), user_errors():
        raise ConfigError("k: bad")
    monkeypatch.delenv("HYDRA_FULL_ERROR")
    with pytest.raises(SystemExit), user_errors(hydra=True):
        import os

        assert os.environ["HYDRA_FULL_ERROR"] == "1"  # inside: Hydra re-raises to us instead of exiting 1
        raise ConfigError("k: bad")
    import os

    assert "HYDRA_FULL_ERROR" not in os.environ


def test_the_known_harmless_warnings_are_silenced_and_others_are_not(caplog):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_known_warnings(wandb=False)
        warnings.warn(
            "The `srun` command is available on your system but is not used. HINT: ...", stacklevel=1
        )
        warnings.warn(
            "The number of training batches (16) is smaller than the logging interval Trainer(...)",
            stacklevel=1,
        )
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning, stacklevel=1)
        warnings.warn("The dataloader does not have many workers", stacklevel=1)
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == [
        "The dataloader does not have many workers",
        "something else is deprecated",
    ]
    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    with caplog.at_level(logging.INFO, logger=log.name):
        log.info("💡 Tip: For seamless cloud logging ... try installing [litlogger](https://pypi.org/...)")
        log.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]


def test_the_wandb_anonymous_warning_is_silenced_and_other_wandb_warnings_are_not(capsys):
    import wandb
    from wandb.errors import term

    quiet_known_warnings()
    quiet_known_warnings()  # idempotent
    wandb.termwarn(
        "The anonymous setting has no effect and will be removed in a future version.", repeat=False
    )
    wandb.termwarn("a real problem", repeat=False)
    err = capsys.readouterr().err
    if term._silent or not term._show_warnings:
        pytest.skip("W&B is silenced in this environment")
    assert "anonymous" not in err and "a real problem" in err
