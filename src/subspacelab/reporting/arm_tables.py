"""The pieces of a report that compare arms (run rows holding ``results``, one entry per arm): a markdown table of
seed mean ± sd per arm and metric, and a scatter of two metrics per arm with their spreads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from subspacelab.reporting.arms import arm_stats


def mean_sd(mean: float, sd: float) -> str:
    return f"{mean:.3f} ± {sd:.3f}"


def count_mean_sd(mean: float, sd: float) -> str:
    """For parameter counts and other large numbers."""
    return f"{mean:,.0f} ± {sd:,.0f}"


def arm_table(
    rows: list[dict],
    arms: Sequence[str],
    columns: Sequence[str],
    formats: dict[str, Callable[[float, float], str]] | None = None,
    first: str = "arm",
) -> list[str]:
    """Markdown lines: a header, then one line per arm with each column's seed mean ± sd (``arm_stats``); a column
    no seed of the arm has reads ``-``. ``formats``: a column's formatter of (mean, sd), ``mean_sd`` by default."""
    formats = formats or {}
    lines = [f"| {first} | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for arm in arms:
        cells = []
        for column in columns:
            mean, sd, n = arm_stats(rows, arm, column)
            cells.append(formats.get(column, mean_sd)(mean, sd) if n else "-")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def seeds_of(rows: list[dict], arms: Sequence[str], metric: str) -> int:
    """The most seeds any of ``arms`` has ``metric`` for."""
    return max((arm_stats(rows, a, metric)[2] for a in arms), default=0)


def arm_scatter(ax, rows: list[dict], arms: Sequence[str], x: str, y: str) -> None:
    """One point per arm at its seed means of ``x`` and ``y``, with ± sd bars, labelled by the arm."""
    for arm in arms:
        (mx, sx, _), (my, sy, _) = arm_stats(rows, arm, x), arm_stats(rows, arm, y)
        ax.errorbar(mx, my, xerr=sx, yerr=sy, fmt="o", capsize=3, label=arm)
    ax.legend()
