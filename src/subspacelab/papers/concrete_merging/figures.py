"""concrete_merging's plot and tables: every arm's average test accuracy (seed mean ± sd) and per task, with the
normalised accuracy (merged over individual)."""

from __future__ import annotations

from pathlib import Path

from subspacelab.papers.concrete_merging.experiment import ARMS, TASKS
from subspacelab.reporting.arms import arm_stats, arms_in
from subspacelab.reporting.figures import figure


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    arms = arms_in(rows, ARMS)
    if not arms:
        return []
    out = out_dir / "accuracy.png"
    with figure(out) as (_, ax):
        stats = [arm_stats(rows, a, "accuracy") for a in arms]
        ax.bar(range(len(arms)), [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=3)
        ax.set_xticks(range(len(arms)), arms, rotation=20)
        ax.set_ylabel("average test accuracy over the tasks")
        ax.set_ylim(0, 1)
    return [out]


def tables(rows: list[dict]) -> str:
    arms = arms_in(rows, ARMS)
    if not arms:
        return ""
    n = max(arm_stats(rows, a, "accuracy")[2] for a in arms)
    tasks = [t for t in TASKS if arm_stats(rows, arms[0], f"per_task.{t}")[2]]
    lines = [f"Every arm on the test images (seed mean ± sd, n = {n} seeds):", "",
             "| arm | average | normalised | " + " | ".join(tasks) + " |", "|---|---|---|" + "---|" * len(tasks)]  # fmt: skip
    for arm in arms:
        cells = [
            arm_stats(rows, arm, m) for m in ("accuracy", "normalized", *(f"per_task.{t}" for t in tasks))
        ]
        lines.append(
            f"| {arm} | " + " | ".join(f"{m:.3f} ± {s:.3f}" if k else "-" for m, s, k in cells) + " |"
        )
    return "\n".join(lines)
