"""igsp's plot and tables: every method's accuracy against the parameters it stores (seed mean ± sd), and the
accuracy matrix of seed 0's run per method."""

from __future__ import annotations

from pathlib import Path

from subspacelab.papers.igsp.experiment import METHODS
from subspacelab.reporting.arm_tables import arm_scatter, arm_table, count_mean_sd, seeds_of
from subspacelab.reporting.arms import arms_in
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
        arm_scatter(ax, rows, arms, "stored", "accuracy")
        ax.set_xlabel("parameters stored at the end (experts and router rows)")
        ax.set_ylabel("final average accuracy (task-incremental)")
    return [out]


def tables(rows: list[dict]) -> str:
    arms = arms_in(rows, METHODS)
    if not arms:
        return ""
    counts = {c: count_mean_sd for c in COLUMNS if c.startswith(("trainable", "stored"))}
    lines = [f"Every method (seed mean ± sd, n = {seeds_of(rows, arms, 'accuracy')} seeds):", ""]
    lines += arm_table(rows, arms, COLUMNS, counts, first="method")
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
