"""subspace_ad's plots and tables: AUROC by shot count for every arm (category mean, seed mean ± sd), and a
per-category table at one shot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.papers.subspace_ad.claims import per_seed
from subspacelab.papers.subspace_ad.experiment import ARMS, CATEGORIES
from subspacelab.reporting.figures import figure

LABEL = {
    "subspacead": "SubspaceAD (ev 0.99)",
    "subspacead_ev95": "SubspaceAD (ev 0.95)",
    "memory_bank": "memory bank (nearest patch)",
    "mahalanobis": "Gaussian (Mahalanobis)",
    "subspacead_random_backbone": "SubspaceAD, untrained backbone",
}


def _shots(rows: list[dict]) -> list[int]:
    return sorted({int(r["shots"]) for row in rows for r in row.get("results", [])})


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    shots = _shots(rows)
    if not shots:
        return []
    out = []
    for metric in ("image_auroc", "pixel_auroc"):
        path = out_dir / f"{metric}_by_shots.png"
        with figure(path) as (_, ax):
            for arm in ARMS:
                seeds = [list(per_seed(rows, arm, k, metric).values()) for k in shots]
                ax.errorbar(
                    shots,
                    [np.mean(v) for v in seeds],
                    yerr=[np.std(v) for v in seeds],
                    marker="o",
                    capsize=3,
                    label=LABEL[arm],
                )
            ax.set_xlabel("shots (normal images fitted)")
            ax.set_ylabel(metric.replace("_", " "))
            ax.set_xticks(shots)
            ax.legend(fontsize=7)
        out.append(path)
    return out


def tables(rows: list[dict]) -> str:
    shots = _shots(rows)
    if not shots:
        return ""
    k = shots[0]
    lines = [
        f"Image / pixel AUROC per category at {k} shot (mean over seeds)",
        "",
        "| category | " + " | ".join(LABEL[a] for a in ARMS) + " |",
        "|---|" + "---|" * len(ARMS),
    ]
    categories = sorted({int(r["category"]) for row in rows for r in row.get("results", [])})
    for c in categories:
        cells = []
        for arm in ARMS:
            picked = [
                r
                for row in rows
                for r in row.get("results", [])
                if r["arm"] == arm and r["shots"] == k and r["category"] == c
            ]
            cells.append(
                f"{np.mean([r['image_auroc'] for r in picked]):.3f} / {np.mean([r['pixel_auroc'] for r in picked]):.3f}"
            )
        lines.append(f"| {CATEGORIES[c]} | " + " | ".join(cells) + " |")
    accuracy = [row["backbone_test_accuracy"] for row in rows if "backbone_test_accuracy" in row]
    if accuracy:
        lines += [
            "",
            f"Backbone test accuracy on Fashion-MNIST's 10 classes: {np.mean(accuracy):.3f} (mean of {len(accuracy)} seeds).",
        ]
    return "\n".join(lines)
