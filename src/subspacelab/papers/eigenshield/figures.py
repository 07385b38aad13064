"""eigenshield's plot and tables: every defence's clean accuracy and attack success rates (seed mean ± sd), and the
filter's spectrum (spikes, causal directions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.papers.eigenshield.experiment import DEFENCES
from subspacelab.reporting.arm_tables import arm_table, seeds_of
from subspacelab.reporting.arms import arm_stats, arms_in
from subspacelab.reporting.figures import figure

METRICS = ("clean_accuracy", "asr_fgsm", "asr_pgd", "asr_pgd_adaptive")
TABLE = (
    *METRICS,
    "robust_accuracy_pgd",
    "robust_accuracy_pgd_adaptive",
)  # robust: right under attack, of all images


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    arms = arms_in(rows, DEFENCES)
    if not arms:
        return []
    out = out_dir / "defences.png"
    with figure(out) as (_, ax):
        width = 0.8 / len(METRICS)
        for i, metric in enumerate(METRICS):
            stats = [arm_stats(rows, a, metric) for a in arms]
            ax.bar([j + i * width for j in range(len(arms))], [s[0] for s in stats], width,
                   yerr=[s[1] for s in stats], capsize=2, label=metric)  # fmt: skip
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(arms))], arms)
        ax.set_ylabel("rate on the attacked test images")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=7)
    return [out]


def tables(rows: list[dict]) -> str:
    arms = arms_in(rows, DEFENCES)
    if not arms:
        return ""
    lines = [f"Every defence (seed mean ± sd over the seeds that ran it, at most n = "
             f"{seeds_of(rows, arms, 'clean_accuracy')}; ASR among the images the defence classifies correctly; "
             "robust accuracy: the share of all attacked images still classified right):", ""]  # fmt: skip
    lines += arm_table(rows, arms, ("dims", *TABLE), {"dims": lambda m, s: f"{m:.1f}"}, first="defence")
    filters = [r["filter"] for r in rows if "filter" in r]
    if filters:
        spikes, causal = [f["n_spikes"] for f in filters], [f["n_causal"] for f in filters]
        lines += ["", f"The filter over the seeds: {np.mean(spikes):.1f} Marchenko-Pastur spikes (range "
                      f"{min(spikes)}-{max(spikes)}), {np.mean(causal):.1f} causal directions (range "
                      f"{min(causal)}-{max(causal)}); causal eigenvector indices per seed: "
                      + "; ".join(str(f["causal"]) for f in filters) + "."]  # fmt: skip
    return "\n".join(lines)
