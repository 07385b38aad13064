"""mmcr's plots and tables: every arm's probe and kNN accuracy and view-manifold geometry (seed mean ± sd), and
the training objective per epoch."""

from __future__ import annotations

from pathlib import Path

from subspacelab.papers.mmcr.experiment import ARMS
from subspacelab.reporting.arms import arm_stats, arms_in
from subspacelab.reporting.figures import figure

COLUMNS = (
    ("probe", "linear probe"),
    ("knn", "kNN (k=200)"),
    ("geometry.radius", "view radius"),
    ("geometry.dimension", "view dimension"),
    ("geometry.centroid_nuclear_norm", "centroid ‖C‖*"),
    ("geometry.centroid_effective_rank", "centroid eff. rank"),
)


def _arms(rows: list[dict]) -> list[str]:
    return arms_in(rows, ARMS)


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    arms = _arms(rows)
    if not arms:
        return []
    out = []
    path = out_dir / "accuracy_and_radius.png"
    with figure(path, ncols=2) as (_, axes):
        for ax, (metric, label) in zip(
            axes, (("probe", "linear-probe accuracy"), ("geometry.radius", "view radius")), strict=True
        ):
            stats = [arm_stats(rows, a, metric) for a in arms]
            ax.bar(range(len(arms)), [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=3)
            ax.set_xticks(range(len(arms)), arms, rotation=20)
            ax.set_ylabel(label)
            if metric == "probe":
                lo = min(s[0] - s[1] for s in stats)
                ax.set_ylim(max(0.0, lo - 0.02), None)
    out.append(path)
    path = out_dir / "objective.png"
    with figure(path, ncols=3) as (_, axes):
        for ax, arm in zip(axes, ("mmcr", "simclr", "barlow"), strict=True):
            for row in rows:
                for r in row.get("results", []):
                    if r["arm"] == arm and r.get("history"):
                        ax.plot(
                            [h["epoch"] for h in r["history"]], [h["loss"] for h in r["history"]], alpha=0.7
                        )
            ax.set_title(arm)
            ax.set_xlabel("epoch")
            ax.set_ylabel("training objective")
    out.append(path)
    return out


def tables(rows: list[dict]) -> str:
    arms = _arms(rows)
    if not arms:
        return ""
    n = max(arm_stats(rows, a, "probe")[2] for a in arms)
    lines = [
        f"Every arm, test split (seed mean ± sd, n = {n} seeds; radius and dimension of 16 views per test image, "
        "L2-normalised projector outputs):",
        "",
        "| arm | views per image | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for arm in arms:
        views = next(r["views"] for row in rows for r in row.get("results", []) if r["arm"] == arm)
        cells = [f"{m:.4f} ± {s:.4f}" for m, s, _ in (arm_stats(rows, arm, metric) for metric, _ in COLUMNS)]
        lines.append(f"| {arm} | {views if arm != 'random_init' else '-'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
