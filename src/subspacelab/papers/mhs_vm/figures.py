"""mhs_vm's plots and tables: every arm's test DSC per dataset (seed mean ± sd) beside its parameters."""

from __future__ import annotations

from pathlib import Path

from subspacelab.papers.mhs_vm.experiment import ARMS, DATASETS
from subspacelab.reporting.arms import arm_stats, arms_in
from subspacelab.reporting.figures import figure

ORDER = ("threshold", *ARMS)


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    arms = arms_in(rows, ORDER)
    datasets = [d for d in DATASETS if any(arm_stats(rows, a, f"{d}.dsc")[2] for a in arms)]
    if not arms or not datasets:
        return []
    out = out_dir / "dsc.png"
    with figure(out, ncols=len(datasets)) as (_, axes):
        for ax, dataset in zip(axes if len(datasets) > 1 else [axes], datasets, strict=True):
            stats = [arm_stats(rows, a, f"{dataset}.dsc") for a in arms]
            ax.bar(range(len(arms)), [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=3)
            ax.set_xticks(range(len(arms)), arms, rotation=20)
            ax.set_ylabel(f"test DSC ({dataset})")
            ax.set_ylim(max(0.0, min(s[0] - s[1] for s in stats) - 0.05), 1.0)
    return [out]


def tables(rows: list[dict]) -> str:
    arms = arms_in(rows, ORDER)
    if not arms:
        return ""
    n = max(arm_stats(rows, a, f"{d}.dsc")[2] for a in arms for d in DATASETS)
    head = " | ".join(f"{d} DSC | {d} IoU" for d in DATASETS)
    lines = [f"Every arm on the test images (seed mean ± sd, n = {n} seeds; pooled pixels, threshold 0.5):", "",
             f"| arm | parameters | {head} |", "|---|---|" + "---|" * (2 * len(DATASETS))]  # fmt: skip
    for arm in arms:
        size = arm_stats(rows, arm, f"{DATASETS[0]}.parameters")
        cells = [f"{m:.3f} ± {s:.3f}" if k else "-" for d in DATASETS for m, s, k in
                 (arm_stats(rows, arm, f"{d}.{metric}") for metric in ("dsc", "iou"))]  # fmt: skip
        lines.append(f"| {arm} | {'-' if not size[2] else f'{int(size[0]):,}'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
