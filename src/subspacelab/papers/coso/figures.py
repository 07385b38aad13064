"""Average accuracy against the number of tasks learned, one panel per (stream, protocol), and the tables of
final accuracy, forgetting, BWT and learning accuracy per method."""

from __future__ import annotations

import statistics
from pathlib import Path

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
            for m in LABELS:
                curves = [
                    r["results"][m][p]["acc_curve"]
                    for r in runs
                    if m in r["results"] and (r["results"][m].get(p) or {}).get("acc_curve")
                ]
                if curves:
                    T = len(curves[0])
                    ax.plot(
                        range(1, T + 1),
                        [statistics.fmean(c[i] for c in curves) for i in range(T)],
                        "o-",
                        label=LABELS[m],
                        ms=3,
                    )
                elif m == "joint" and m in runs[0]["results"]:
                    ax.axhline(
                        statistics.fmean(r["results"][m][p]["final_acc"] for r in runs),
                        color="k",
                        ls="--",
                        label=LABELS[m],
                    )
            ax.set(
                title=f"{stream} ({p}-IL, n={len(runs)})",
                xlabel="tasks learned",
                ylabel="average accuracy so far",
                ylim=(0, 1),
            )
            ax.legend(fontsize=6)
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
