"""Progress lines of a pipeline: ``run k of N`` when a run starts, ``[done]``/``[skip]`` with its time when it
ends, and an estimate of the time left from the runs trained so far (skipped runs take no time and are not
counted in the mean)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Counts ``total`` runs; ``start(name)`` then ``finish(skipped)`` for each, in order."""

    def __init__(
        self, total: int, prefix: str = "[reproduce]", clock: Callable[[], float] = time.monotonic, out=None
    ):
        self.total, self.prefix, self.clock = total, prefix, clock
        self.out = out or sys.stdout
        self.started = 0
        self.trained: list[float] = []  # seconds of each run that trained (not skipped)
        self.current: str | None = None
        self._t0 = 0.0

    def say(self, text: str) -> None:
        print(f"{self.prefix} {text}", file=self.out, flush=True)

    def start(self, name: str) -> None:
        self.started += 1
        self.current, self._t0 = name, self.clock()
        self.say(f"run {self.started} of {self.total}: {name}")

    def eta(self) -> float | None:
        """Seconds left if every run not yet finished trains as long as the mean trained run; None before any."""
        if not self.trained:
            return None
        return (self.total - self.started) * sum(self.trained) / len(self.trained)

    def finish(self, skipped: bool = False, failed: bool = False) -> None:
        if self.current is None:
            return
        took = self.clock() - self._t0
        if failed:
            status = "[failed]"
        elif skipped:
            status = "[skip]"
        else:
            status = "[done]"
            self.trained.append(took)
        left = self.eta()
        tail = f"; about {duration(left)} left" if left is not None and self.started < self.total else ""
        self.say(f"{status} {self.current} ({self.started}/{self.total}) in {duration(took)}{tail}")
        self.current = None
