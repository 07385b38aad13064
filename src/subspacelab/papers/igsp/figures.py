"""igsp's plot and tables: every method's accuracy against the parameters it stores (seed mean ± sd), and the
accuracy matrix of seed 0's run per method."""

from __future__ import annotations

from pathlib import Path

from subspacelab.papers.igsp.experiment import METHODS
from subspacelab.reporting.arms import arm_stats, arms_in
from subspacelab.reporting.figures import figure

COLUMNS = (
    "accuracy",
    "forgetting",
    "pair_forgetting",
    "trainable",
    "trainable_fitted",
    "trainable_per_step",
    "stored",
)


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    arms = arms_in(rows, METHODS)
    if not arms:
        return []
    out = out_dir / "accuracy_vs_parameters.png"
    with figure(out) as (_, ax):
        for arm in arms:
            (px, sx, _), (ay, sy, _) = arm_stats(rows, arm, "stored"), arm_stats(rows, arm, "accuracy")
            ax.errorbar(px, ay, xerr=sx, yerr=sy, fmt="o", capsize=3, label=arm)
        ax.set_xlabel("parameters stored at the end (experts and router rows)")
        ax.set_ylabel("final average accuracy (task-incremental)")
        ax.legend()
    return [out]


def tables(rows: list[dict]) -> str:
    arms = arms_in(rows, METHODS)
    if not arms:
        return ""
    n = max(arm_stats(rows, a, "accuracy")[2] for a in arms)
    lines = [f"Every method (seed mean ± sd, n = {n} seeds):", "",
             "| method | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]  # fmt: skip
    for arm in arms:
        cells = [arm_stats(rows, arm, c) for c in COLUMNS]
        lines.append(
            f"| {arm} | "
            + " | ".join(
                f"{m:,.0f} ± {s:,.0f}" if c.startswith(("trainable", "stored")) else f"{m:.3f} ± {s:.3f}"
                for c, (m, s, _) in zip(COLUMNS, cells, strict=True)
            )  # fmt: skip
            + " |"
        )
    first = min(rows, key=lambda r: r.get("seed", 0))
    for arm in arms:
        R = (first.get("R") or {}).get(arm)
        if R:
            lines += ["", f"{arm}, seed {first.get('seed', 0)}: accuracy on task j (columns) after task i (rows)", "",
                      "| after | " + " | ".join(f"task {j}" for j in range(len(R))) + " |",
                      "|---|" + "---|" * len(R)]  # fmt: skip
            lines += [f"| task {i} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in row) + " |"
                      for i, row in enumerate(R)]  # fmt: skip
    return "\n".join(lines)
