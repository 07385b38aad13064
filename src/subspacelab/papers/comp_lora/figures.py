"""comp_lora's plots and table: few-shot accuracy against MNIST retention for every arm (seed mean ± sd), and the
same two along comp_lora's excluded rank (0 is LoRA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.papers.comp_lora.experiment import ARMS
from subspacelab.reporting.arm_tables import arm_scatter, arm_table, count_mean_sd, mean_sd, seeds_of
from subspacelab.reporting.arms import arms_in
from subspacelab.reporting.figures import figure
from subspacelab.reporting.stats import t_interval


def _curve(rows: list[dict]) -> dict[int, dict[str, list[float]]]:
    out: dict[int, dict[str, list[float]]] = {}
    for row in rows:
        for point in row.get("curve", []):
            at = out.setdefault(int(point["excluded_rank"]), {"accuracy": [], "retention": []})
            for metric in at:
                at[metric].append(point[metric])
    return dict(sorted(out.items()))


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    arms = arms_in(rows, ARMS)
    if not arms:
        return []
    out = [out_dir / "tradeoff.png"]
    with figure(out[0]) as (_, ax):
        arm_scatter(ax, rows, arms, "retention", "accuracy")
        ax.set_xlabel("MNIST test accuracy through the old head (retention)")
        ax.set_ylabel("few-shot task test accuracy")
    if curve := _curve(rows):
        out.append(out_dir / "excluded_rank.png")
        with figure(out[1]) as (_, ax):
            ks = list(curve)
            for metric in ("accuracy", "retention"):
                ivs = [t_interval(curve[k][metric]) for k in ks]
                ax.errorbar(ks, [iv.mean for iv in ivs], yerr=[iv.mean - iv.lo for iv in ivs], marker="o",
                            capsize=3, label=metric)  # fmt: skip
            ax.set_xlabel("excluded rank (top singular directions kept out of the update; 0 = LoRA)")
            ax.set_ylabel("test accuracy (mean, 95% interval)")
            ax.legend()
    return out


def tables(rows: list[dict]) -> str:
    arms = arms_in(rows, ARMS)
    if not arms:
        return ""
    pretrained = [r["pretrained_retention"] for r in rows if "pretrained_retention" in r]
    lines = [f"Every arm (seed mean ± sd, n = {seeds_of(rows, arms, 'accuracy')} seeds; the pretrained model's MNIST "
             f"accuracy {sum(pretrained) / len(pretrained):.3f}):", ""]  # fmt: skip
    columns = ("accuracy", "retention", "forgetting", "trainable_backbone")
    lines += arm_table(rows, arms, columns, {"trainable_backbone": count_mean_sd})
    if curve := _curve(rows):
        lines += ["", "comp_lora along the excluded rank (seed mean ± sd, as above; 0 is LoRA):", "",
                  "| excluded rank | accuracy | retention |", "|---|---|---|"]  # fmt: skip
        for k, at in curve.items():
            cells = [mean_sd(np.mean(at[m]), np.std(at[m])) for m in ("accuracy", "retention")]
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
