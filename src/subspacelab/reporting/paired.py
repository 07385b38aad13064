"""The verdict of paired per-seed differences between arms, the rule most comparisons of two arms share: for
every comparison, the 95% t-interval over seeds of its differences (oriented so that positive favours the
claim); a comparison passes when the interval's lower end is above ``-margin`` (margin 0: the interval excludes
no effect). All pass: reproduced; some: partly; none: not reproduced. With one seed no interval exists: a
difference above ``-margin`` then counts towards partly only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from subspacelab.reporting.stats import Interval, t_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, cap_for_one_seed


def paired_verdict(
    differences: Mapping[str, Sequence[float]], margin: float = 0.0
) -> tuple[str, dict[str, Interval], int]:
    """(verdict, each comparison's interval, the fewest seeds of any comparison) for ``differences``: a
    comparison's name -> its per-seed differences. Comparisons without values are left out; with none at all the
    verdict is ``None``."""
    intervals = {name: t_interval(d) for name, d in differences.items() if len(d)}
    if not intervals:
        return None, {}, 0
    passes = [iv.n >= 2 and iv.lo > -margin for iv in intervals.values()]
    leans = [iv.n == 1 and iv.mean > -margin for iv in intervals.values()]
    verdict = REPRODUCED if all(passes) else PARTLY if any(passes) or any(leans) else NOT
    n_min = min(iv.n for iv in intervals.values())
    return cap_for_one_seed(verdict, n_min), intervals, n_min
