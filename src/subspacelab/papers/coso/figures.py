"""Average accuracy against the number of tasks learned, one panel per (stream, protocol), and the tables of
final accuracy, forgetting, BWT and learning accuracy per method."""

from __future__ import annotations

from pathlib import Path

from subspacelab.continual.results import plot_accuracy_vs_tasks
from subspacelab.continual.streams import PROTOCOLS
from subspacelab.papers.coso.aggregate import LABELS, means, runs_by_stream, settings
from subspacelab.reporting.figures import figure


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    panels = settings(rows, PROTOCOLS)
    if not panels:
        return []
    path = Path(out_dir) / "coso_accuracy_vs_tasks.png"
    with figure(path, ncols=len(panels), size=(4.2 * len(panels), 3.6)) as (_, axes):
        for ax, (stream, p, runs) in zip(axes if len(panels) > 1 else [axes], panels, strict=True):
            plot_accuracy_vs_tasks(ax, stream, runs, LABELS, p)
    return [path]


def tables(rows: list[dict]) -> str:
    lines = []
    for stream, runs in sorted(runs_by_stream(rows).items()):
        for p in runs[0]["protocols"]:
            acc, fg, bwt, la = (means(runs, p, k) for k in ("final_acc", "forgetting", "bwt", "learning_acc"))
            lines += [
                f"\n**{stream}, {p}-incremental** ({len(runs)} seed(s))\n",
                "| method | final avg acc | avg forgetting | BWT | learning acc (R[j, j]) |",
                "|---|---|---|---|---|",
            ]
            for m in LABELS:
                if m in acc:
                    f, b, lr = (f"{d[m]:.3f}" if m in d else "–" for d in (fg, bwt, la))
                    lines.append(f"| {LABELS[m]} | {acc[m]:.3f} | {f} | {b} | {lr} |")
    return "\n".join(lines)
