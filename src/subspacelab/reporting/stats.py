"""Statistics for verdicts: seed intervals, differences between arms, log-log slopes with an interval,
and a seeded bootstrap. Plain numpy/scipy; no paper names."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st


@dataclass(frozen=True)
class Interval:
    """A mean (or difference, or slope) with its two-sided confidence interval over ``n`` values."""

    mean: float
    lo: float
    hi: float
    n: int
    sd: float = float("nan")
    level: float = 0.95

    def excludes(self, value: float = 0.0) -> bool:
        """True when the interval lies wholly on one side of ``value`` (no effect is excluded)."""
        return self.lo > value or self.hi < value

    def text(self, fmt: str = ".3g") -> str:
        if self.n < 2 or math.isnan(self.lo):
            return f"{self.mean:{fmt}} (n={self.n}, no interval)"
        return (
            f"{self.mean:{fmt}} [{self.lo:{fmt}}, {self.hi:{fmt}}] (n={self.n}, {self.level:.0%} t-interval)"
        )

    def as_dict(self) -> dict:
        return {
            "mean": self.mean,
            "lo": self.lo,
            "hi": self.hi,
            "n": self.n,
            "sd": self.sd,
            "level": self.level,
        }


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """mean ± t_{n-1} · sd / √n over the seeds' values; with one value the interval is undefined (nan)."""
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    if n == 0:
        raise ValueError("t_interval of no values")
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, float("nan"), float("nan"), n, float("nan"), level)
    sd = float(x.std(ddof=1))
    half = float(_st.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, sd, level)


def difference_interval(
    a: Sequence[float], b: Sequence[float], paired: bool = False, level: float = 0.95
) -> Interval:
    """Interval of mean(a) − mean(b): paired over seeds (the same seeds in both arms) or Welch's."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if paired:
        if x.shape != y.shape:
            raise ValueError("a paired difference needs the same number of values in both arms")
        return t_interval(x - y, level)
    diff = float(x.mean() - y.mean())
    n = int(min(x.size, y.size))
    if x.size < 2 or y.size < 2:
        return Interval(diff, float("nan"), float("nan"), n, float("nan"), level)
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Interval(diff, diff, diff, n, 0.0, level)
    dof = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = float(_st.t.ppf(0.5 + level / 2, dof)) * se
    return Interval(diff, diff - half, diff + half, n, se, level)


@dataclass(frozen=True)
class Slope:
    """Least-squares slope of log y on log x, with its t-interval and R²."""

    slope: float
    lo: float
    hi: float
    intercept: float
    r2: float
    n: int
    level: float = 0.95

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def text(self) -> str:
        if self.n < 3:
            return f"{self.slope:.2f} (n={self.n} points, no interval)"
        return f"{self.slope:.2f} [{self.lo:.2f}, {self.hi:.2f}] (n={self.n} points, R² {self.r2:.3f})"

    def as_dict(self) -> dict:
        return {
            "slope": self.slope,
            "lo": self.lo,
            "hi": self.hi,
            "intercept": self.intercept,
            "r2": self.r2,
            "n": self.n,
            "level": self.level,
        }


def loglog_slope(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> Slope:
    """Fit log y = a + b log x over the points with x, y > 0 (others are dropped); the interval is the
    slope's t-interval with n − 2 degrees of freedom (nan with fewer than three points)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = (xs > 0) & (ys > 0) & np.isfinite(xs) & np.isfinite(ys)
    lx, ly = np.log(xs[keep]), np.log(ys[keep])
    n = int(lx.size)
    if n < 2 or np.ptp(lx) == 0:
        raise ValueError(f"a log-log slope needs two distinct positive x values; got {n} usable points")
    fit = _st.linregress(lx, ly)
    if n < 3:
        return Slope(float(fit.slope), float("nan"), float("nan"), float(fit.intercept), 1.0, n, level)
    half = float(_st.t.ppf(0.5 + level / 2, n - 2)) * float(fit.stderr)
    return Slope(
        float(fit.slope),
        float(fit.slope) - half,
        float(fit.slope) + half,
        float(fit.intercept),
        float(fit.rvalue) ** 2,
        n,
        level,
    )


def bootstrap_interval(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], float] = np.mean,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap of ``statistic`` over ``values`` (seeded: the same interval every time)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap of no values")
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(x[rng.integers(0, x.size, x.size)]) for _ in range(n_boot)])
    lo, hi = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2])
    return Interval(
        float(statistic(x)),
        float(lo),
        float(hi),
        int(x.size),
        float(x.std(ddof=1)) if x.size > 1 else float("nan"),
        level,
    )
