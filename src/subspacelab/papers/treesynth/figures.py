"""treesynth's plots and tables: accuracy against data size per method, diversity and coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.papers.treesynth.claims import runs_of
from subspacelab.papers.treesynth.experiment import LABEL, METHODS
from subspacelab.reporting.figures import figure
from subspacelab.reporting.stats import t_interval

COLOR = {"biased": "#7f7f7f", "temperature": "#1f77b4", "treesynth": "#2ca02c", "balanced": "#ff7f0e"}
COLUMNS = (
    ("train_accuracy", "training accuracy", ".3f"),
    ("test_accuracy", "uniform-test accuracy", ".3f"),
    ("tail_accuracy", "tail accuracy", ".3f"),
    ("head_accuracy", "head accuracy", ".3f"),
    ("coverage", "combination coverage", ".3f"),
    ("label_domain_coverage", "(domain, ops) coverage", ".3f"),
    ("mean_pairwise_cosine", "mean pairwise TF-IDF cosine", ".4f"),
)


def _sizes(rows: list[dict]) -> list[int]:
    return sorted({int(r["n_samples"]) for r in rows if "n_samples" in r})


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    sizes = _sizes(rows)
    if not sizes:
        return []
    out = out_dir / "treesynth_accuracy_diversity.png"
    with figure(out, ncols=3, size=(14, 4.2)) as (_, axes):
        for m in METHODS:
            for ax, (key, title) in zip(
                axes,
                (
                    ("test_accuracy", "uniform-test accuracy"),
                    ("tail_accuracy", "accuracy on the generator's tail"),
                    ("mean_pairwise_cosine", "mean pairwise TF-IDF cosine (lower: more diverse)"),
                ),
                strict=True,
            ):
                pts = [(n, [r[key] for r in runs_of(rows, m, n).values()]) for n in sizes]
                pts = [(n, v) for n, v in pts if v]
                if not pts:
                    continue
                ivs = [t_interval(v) for _, v in pts]
                xs = [n for n, _ in pts]
                ax.errorbar(
                    xs,
                    [iv.mean for iv in ivs],
                    yerr=np.array([[iv.mean - iv.lo for iv in ivs], [iv.hi - iv.mean for iv in ivs]]),
                    color=COLOR[m],
                    marker="o",
                    capsize=3,
                    label=LABEL[m],
                )
                ax.set_xscale("log")
                ax.set_xlabel("training problems")
                ax.set_title(title)
        axes[0].legend()
    return [out]


def tables(rows: list[dict]) -> str:
    sizes = _sizes(rows)
    if not sizes:
        return ""
    lines = [
        "Per method and size, mean and 95% t-interval over seeds:",
        "",
        "| method | n | seeds | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for n in sizes:
        for m in METHODS:
            runs = list(runs_of(rows, m, n).values())
            if not runs:
                continue
            cells = []
            for key, _, fmt in COLUMNS:
                iv = t_interval([r[key] for r in runs])
                cells.append(f"{iv.mean:{fmt}} [{iv.lo:{fmt}}, {iv.hi:{fmt}}]")
            lines.append(f"| {LABEL[m]} | {n} | {len(runs)} | " + " | ".join(cells) + " |")
    gen = [r["generated_share"] for r in rows if r.get("method") == "balanced" and "generated_share" in r]
    leaves = sorted({int(r["leaves"]) for r in rows if "leaves" in r})
    if gen or leaves:
        lines += [""]
        if leaves:
            lines.append(f"Leaves of the seeds' trees: {', '.join(map(str, leaves))}.")
        if gen:
            lines.append(
                f"Share of the balanced datasets generated to fill leaves: {np.mean(gen):.2f} on average."
            )
    return "\n".join(lines)
