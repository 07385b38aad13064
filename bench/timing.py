"""Timing shared by the benchmarks.

Two tools:

* ``best_cpu_seconds``: best process-CPU seconds over repeats, after a warm-up call. CPU time (user +
  system) rather than wall time, so other load on a shared machine matters little for one-thread code.
* ``interleaved_times`` + ``paired_ratio``: for comparing a candidate with a baseline on a busy machine.
  Both run in the same process, a few calls of each in turn (A B B A A B ...), so neighbouring calls see
  the same load; each pair gives one ratio, and the median ratio comes with a distribution-free interval
  from order statistics. Separate processes run one after the other see different loads, and their
  ratios do not mean anything (0.3x to 35x for the same code on two shared cores).
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable, Mapping


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


WALL_AND_CPU = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved_times(
    fns: Mapping[str, Callable[[], object]],
    rounds: int,
    warmup: int = 3,
    repeats: int = 1,
    clocks: Mapping[str, Callable[[], float]] = WALL_AND_CPU,
) -> dict[str, dict[str, list[float]]]:
    """Seconds per call of each function, the functions called in turn, ``rounds`` times.

    Every round calls each function ``repeats`` times back to back and keeps, for each clock, the
    fastest of those calls: a call that another process interrupted is slower, never faster, so the
    minimum filters interruptions out. The order of the functions is reversed every other round
    (A B, B A, A B, ...) so that neither side always runs first. ``warmup`` untimed rounds come first.
    Returns ``{clock: {function: [seconds per round]}}``; the default clocks are wall time and the
    process's CPU time (all threads: the work done, whatever the machine's load).
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, dict[str, list[float]]] = {c: {name: [] for name in names} for c in clocks}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            best = dict.fromkeys(clocks, float("inf"))
            for _ in range(repeats):
                start = {c: clock() for c, clock in clocks.items()}
                fns[name]()
                for c, clock in clocks.items():
                    best[c] = min(best[c], clock() - start[c])
            for c in clocks:
                times[c][name].append(best[c])
    return times


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(low, median, high): the sample median with a distribution-free interval for the true median.

    The interval is [x_(k), x_(n+1-k)] of the sorted sample, with k the largest rank such that
    P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2: it holds the median with at least ``confidence``
    probability for any continuous distribution of independent values. With too few values for that
    (n < 6 at 95%), the interval is the whole sample range.
    """
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("median_interval needs at least one value")
    median = xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])
    alpha = (1.0 - confidence) / 2
    k, tail = 0, 0.0  # tail = P(Bin(n, 1/2) <= k - 1)
    while k < n // 2:
        nxt = tail + math.comb(n, k) / 2**n  # P(Bin <= k)
        if nxt > alpha:
            break
        k, tail = k + 1, nxt
    k = max(k, 1)
    return xs[k - 1], median, xs[n - k]


def paired_ratio(baseline: list[float], candidate: list[float], confidence: float = 0.95) -> dict:
    """Median of the per-round ratios candidate / baseline, with its order-statistic interval."""
    if len(baseline) != len(candidate) or not baseline:
        raise ValueError("paired_ratio needs two equally long, non-empty lists of times")
    lo, med, hi = median_interval([c / b for b, c in zip(baseline, candidate, strict=True)], confidence)
    return {"ratio": med, "low": lo, "high": hi, "pairs": len(baseline), "confidence": confidence}
