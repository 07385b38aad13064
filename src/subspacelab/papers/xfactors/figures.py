"""xfactors' plots and tables: every arm's DCI and FactorVAE scores (seed mean ± sd), the factor swaps of the
XFactors arms per factor, and the training loss per epoch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.data.dsprites import FACTORS
from subspacelab.papers.xfactors.experiment import ARMS
from subspacelab.reporting.arms import arm_stats, arms_in
from subspacelab.reporting.figures import figure

COLUMNS = (
    ("dci_d", "DCI-D"),
    ("dci_c", "DCI-C"),
    ("dci_i", "DCI-I"),
    ("fvs", "FactorVAE"),
    ("test_mse", "test MSE"),
)


def _arms(rows: list[dict]) -> list[str]:
    return arms_in(rows, ARMS)


def _swaps(rows, arm, key) -> np.ndarray:
    got = [row["swaps"][arm][key] for row in rows if arm in row.get("swaps", {})]
    return np.asarray(got, dtype=float)


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    arms = _arms(rows)
    if not arms:
        return []
    out = [out_dir / "disentanglement.png"]
    with figure(out[0], ncols=2) as (_, axes):
        for ax, (metric, label) in zip(
            axes, (("dci_d", "DCI disentanglement"), ("fvs", "FactorVAE score")), strict=True
        ):
            stats = [arm_stats(rows, a, metric) for a in arms]
            ax.bar(range(len(arms)), [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=3)
            ax.set_xticks(range(len(arms)), arms, rotation=20)
            ax.set_ylabel(label)
            ax.set_ylim(0, 1.05)
    swapped = [a for a in arms if a.startswith("xfactors") and len(_swaps(rows, a, "moved"))]
    if swapped:
        out.append(out_dir / "swaps.png")
        with figure(out[-1], ncols=2) as (_, axes):
            x = np.arange(len(FACTORS))
            ceiling = np.asarray([row["swaps"]["reader_accuracy"] for row in rows if "swaps" in row]).mean(0)
            for ax, key in zip(axes, ("moved", "kept"), strict=True):
                for j, arm in enumerate(swapped):
                    ax.bar(x + 0.35 * j, _swaps(rows, arm, key).mean(0), 0.35, label=arm)
                ax.plot(x + 0.175, ceiling, "k_", markersize=14, label="reader on real images")
                ax.set_xticks(x + 0.175, FACTORS, rotation=20)
                ax.set_ylabel(f"swap: factor {key}" if key == "moved" else "swap: other factors kept")
                ax.set_ylim(0, 1.05)
                ax.legend(fontsize=7)
    return out


def tables(rows: list[dict]) -> str:
    arms = _arms(rows)
    if not arms:
        return ""
    n = max(arm_stats(rows, a, "dci_d")[2] for a in arms)
    lines = [
        f"Every arm on the test codes (seed mean ± sd, n = {n} seeds):",
        "",
        "| arm | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for arm in arms:
        cells = [f"{m:.3f} ± {s:.3f}" for m, s, _ in (arm_stats(rows, arm, metric) for metric, _ in COLUMNS)]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    swapped = [a for a in arms if a.startswith("xfactors") and len(_swaps(rows, a, "moved"))]
    if swapped:
        ceiling = np.asarray([row["swaps"]["reader_accuracy"] for row in rows if "swaps" in row]).mean(0)
        lines += [
            "",
            "Factor swaps (seed means; moved: the swapped factor read as the target's value; kept: the other factors "
            "read as the source's; reader: each factor classifier's accuracy on real test images):",
            "",
            "| | " + " | ".join(FACTORS) + " |",
            "|---|" + "---|" * len(FACTORS),
            "| reader | " + " | ".join(f"{c:.3f}" for c in ceiling) + " |",
        ]
        for arm in swapped:
            for key in ("moved", "kept"):
                values = _swaps(rows, arm, key).mean(0)
                lines.append(f"| {arm} {key} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    return "\n".join(lines)
