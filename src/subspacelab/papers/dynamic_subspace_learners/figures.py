"""dynamic_subspace_learners' plots and tables: every arm's test NMI and Recall@k (seed mean ± sd), and the dynamic
arm's learners and validation NMI per epoch."""

from __future__ import annotations

from pathlib import Path

from subspacelab.papers.dynamic_subspace_learners.experiment import ARMS
from subspacelab.reporting.arms import arm_stats, arms_in
from subspacelab.reporting.figures import figure

COLUMNS = (("nmi", "NMI"), ("recall@1", "R@1"), ("recall@2", "R@2"), ("recall@4", "R@4"), ("recall@8", "R@8"))


def _dynamic_runs(rows: list[dict]) -> list[tuple[int, dict]]:
    return [(row.get("seed", 0), r) for row in rows for r in row.get("results", []) if r["arm"] == "dynamic"]


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    arms = arms_in(rows, ARMS)
    if not arms:
        return []
    out = [out_dir / "retrieval.png"]
    with figure(out[0], ncols=2) as (_, axes):
        for ax, (metric, label) in zip(
            axes, (("nmi", "test NMI"), ("recall@1", "test Recall@1")), strict=True
        ):
            stats = [arm_stats(rows, a, metric) for a in arms]
            ax.bar(range(len(arms)), [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=3)
            ax.set_xticks(range(len(arms)), arms, rotation=20)
            ax.set_ylabel(label)
            lo = min(s[0] - s[1] for s in stats)
            ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    dynamic = _dynamic_runs(rows)
    if dynamic and all(r.get("schedule") for _, r in dynamic):
        out.append(out_dir / "growth.png")
        with figure(out[-1], ncols=2) as (_, axes):
            for seed, r in dynamic:
                epochs = [s["epoch"] for s in r["schedule"]]
                axes[0].step(
                    epochs, [len(s["sizes"]) for s in r["schedule"]], where="post", label=f"seed {seed}"
                )
                axes[1].plot(epochs, [s["val_nmi"] for s in r["schedule"]], "o-", label=f"seed {seed}")
            axes[0].set_xlabel("epoch")
            axes[0].set_ylabel("learners (dynamic)")
            axes[1].set_xlabel("epoch")
            axes[1].set_ylabel("validation NMI (dynamic)")
            axes[0].legend(fontsize=7)
    return out


def tables(rows: list[dict]) -> str:
    arms = arms_in(rows, ARMS)
    if not arms:
        return ""
    n = max(arm_stats(rows, a, "nmi")[2] for a in arms)
    lines = [
        f"Every arm on the test images (seed mean ± sd, n = {n} seeds):",
        "",
        "| arm | " + " | ".join(label for _, label in COLUMNS) + " | learners |",
        "|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for arm in arms:
        cells = [f"{m:.3f} ± {s:.3f}" for m, s, _ in (arm_stats(rows, arm, metric) for metric, _ in COLUMNS)]
        k = arm_stats(rows, arm, "learners")
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {'-' if k[2] == 0 else f'{k[0]:.1f}'} |")
    dynamic = _dynamic_runs(rows)
    if dynamic:
        lines += [
            "",
            "The dynamic arm's learners (block sizes before fine-tuning) and the epochs of its splits:",
            "",
        ]
        lines += [
            f"- seed {s}: sizes {r.get('sizes')}, splits after epochs {r.get('split_epochs') or 'none'}"
            for s, r in dynamic
        ]
    return "\n".join(lines)
