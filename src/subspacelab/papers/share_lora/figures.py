"""Average accuracy against the number of tasks learned, one panel per stream, and the tables of final accuracy,
forgetting, BWT, learning accuracy and stored adapter parameters per method."""

from __future__ import annotations

import statistics
from pathlib import Path

from subspacelab.continual.results import plot_accuracy_vs_tasks
from subspacelab.papers.share_lora.aggregate import LABELS, means, runs_by_stream
from subspacelab.reporting.figures import figure


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    by = sorted(runs_by_stream(rows).items())
    if not by:
        return []
    path = Path(out_dir) / "share_accuracy_vs_tasks.png"
    with figure(path, ncols=len(by), size=(4.2 * len(by), 3.6)) as (_, axes):
        for ax, (stream, runs) in zip(axes if len(by) > 1 else [axes], by, strict=True):
            plot_accuracy_vs_tasks(ax, stream, runs, LABELS, "task")
    return [path]


def tables(rows: list[dict]) -> str:
    lines = []
    for stream, runs in sorted(runs_by_stream(rows).items()):
        acc, fg, bwt, la = (means(runs, k) for k in ("final_acc", "forgetting", "bwt", "learning_acc"))
        st = {
            m: statistics.fmean(r["results"][m]["stored"] for r in runs)
            for m in LABELS
            if all("stored" in (r["results"].get(m) or {}) for r in runs)
        }
        lines += [
            f"\n**{stream}, task-incremental** ({len(runs)} seed(s))\n",
            "| method | final avg acc | avg forgetting | BWT | learning acc | stored adapter params |",
            "|---|---|---|---|---|---|",
        ]
        for m in LABELS:
            if m in acc:
                f, b, lr = (f"{d[m]:.3f}" if m in d else "–" for d in (fg, bwt, la))
                s = (
                    f"{st[m]:.0f}"
                    if m in st
                    else (f"{runs[0]['stored']['lora_one_adapter']}" if m == "lora" else "full weight")
                )
                lines.append(f"| {LABELS[m]} | {acc[m]:.3f} | {f} | {b} | {lr} | {s} |")
    return "\n".join(lines)
