"""Known harmless messages of the stack, silenced in this one place; every other warning is left alone.

Each entry below is a message that says nothing about our runs: Lightning's hint to use ``srun`` (we
launch Slurm jobs through Hydra's launcher), its LitLogger advertisement, its log-interval remark on
small smoke epochs, torch's ``LeafSpec`` deprecation raised inside Lightning, and W&B's warning about
the ``anonymous`` setting that Lightning's ``WandbLogger`` always passes. Entry points call
:func:`quiet_known_warnings` once, after the configuration is validated.
"""

from __future__ import annotations

import logging
import warnings

# (category, regular expression matched at the start of the message) of Python warnings to ignore
IGNORED_WARNINGS = (
    (Warning, r"The `srun` command is available on your system but is not used"),
    (Warning, r"The number of training batches \(\d+\) is smaller than the logging interval"),
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
)
# (logger name, text contained in the record) of log records to drop
IGNORED_RECORDS = (("lightning.pytorch.utilities.rank_zero", "litlogger"),)
# W&B prints these once per process through its own terminal writer, not through ``warnings``
IGNORED_WANDB = ("The anonymous setting has no effect and will be removed in a future version.",)


class _DropContaining(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _quiet_wandb() -> None:
    """Mark W&B's once-only messages as already shown (W&B's own de-duplication set)."""
    try:
        from wandb.errors import term
    except ImportError:
        return
    shown = getattr(term, "_printed_messages", None)
    if isinstance(shown, set):  # termwarn() de-duplicates the message with its "WARNING" label in front
        label = getattr(term, "WARN_STRING", "WARNING")
        shown.update(f"{label} {message}" for message in IGNORED_WANDB)


def quiet_known_warnings(wandb: bool = True) -> None:
    """Install the filters; idempotent. ``wandb=False`` skips importing W&B (0.5 s) where it is not used."""
    for category, pattern in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    for name, text in IGNORED_RECORDS:
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropContaining) and f.text == text for f in log.filters):
            log.addFilter(_DropContaining(text))
    if wandb:
        _quiet_wandb()
