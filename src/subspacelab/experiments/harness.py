"""Helpers every numerical experiment uses: seeds per trial, a parallel map over trials, success
rates with Wilson intervals, the 50% crossing of a success curve, and a CSV of every trial.

Results never depend on ``n_jobs``: each trial draws from its own seed (``trial_seed``), and
``map_trials`` returns results in task order.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


def trial_seed(base_seed: int, *keys) -> int:
    """A 31-bit seed determined by the run's seed and a trial's coordinates (stable across runs)."""
    blob = repr((int(base_seed), *keys)).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF


def map_trials(fn: Callable, tasks: Iterable, n_jobs: int = 1) -> list:
    """``[fn(t) for t in tasks]``, in parallel processes when ``n_jobs > 1`` (order preserved)."""
    tasks = list(tasks)
    if n_jobs <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs)(delayed(fn)(t) for t in tasks)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% for z = 1.96)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def success_curve(xs: Sequence[float], successes: Sequence[int], trials: Sequence[int]) -> list[dict]:
    """Per point: x, the success rate and its Wilson interval, sorted by x."""
    out = []
    for x, k, n in sorted(zip(xs, successes, trials, strict=True)):
        lo, hi = wilson_interval(int(k), int(n))
        out.append(
            {
                "x": float(x),
                "successes": int(k),
                "trials": int(n),
                "rate": k / n if n else float("nan"),
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return out


def transition_point(
    xs: Sequence[float], rates: Sequence[float], level: float = 0.5, log_x: bool = True
) -> float | None:
    """Where a success curve first crosses ``level`` (linear interpolation, in log x by default).
    None when it never does; the first x when it starts above."""
    pts = sorted(zip(xs, rates, strict=True))
    if not pts:
        return None
    if pts[0][1] >= level:
        return float(pts[0][0])
    for (x0, r0), (x1, r1) in zip(pts, pts[1:], strict=False):
        if r0 < level <= r1:
            t = (level - r0) / (r1 - r0)
            if log_x and x0 > 0 and x1 > 0:
                return float(math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0))))
            return float(x0 + t * (x1 - x0))
    return None


def write_trials(path: Path, records: Sequence[dict]) -> Path:
    """Every trial of a run as CSV (one row per trial, columns = the union of the records' keys)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(records)
    return path
