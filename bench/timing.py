"""Timing shared by the benchmarks: best process-CPU seconds over repeats, after a warm-up call.

CPU time (user + system) rather than wall time, so other load on a shared machine matters little.
"""

from __future__ import annotations

import resource


def best_cpu_seconds(fn, repeats: int = 3, inner: int = 1) -> float:
    """The best, over ``repeats``, of the CPU seconds per call of ``fn`` averaged over ``inner`` calls."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(inner):
            fn()
        t1 = resource.getrusage(resource.RUSAGE_SELF)
        best = min(best, ((t1.ru_utime + t1.ru_stime) - (t0.ru_utime + t0.ru_stime)) / inner)
    return best
