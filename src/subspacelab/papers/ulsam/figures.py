"""The ULSAM report's figure (test accuracy per variant; counted cost of each variant) and tables."""

from __future__ import annotations

import statistics
from pathlib import Path

from subspacelab.papers.ulsam.common import (
    LABELS,
    NET_LABELS,
    VARIANTS,
    change,
    cost_table,
    trained_runs,
    variant_of,
)
from subspacelab.reporting.figures import figure

COLORS = {"none": "tab:blue", "insert": "tab:green", "replace": "tab:red"}


def tables(rows: list[dict]) -> str:
    lines = []
    runs = trained_runs(rows)
    if runs:
        lines += ["| trained net | variant | seeds | test acc (%) | parameters |", "|---|---|---|---|---|"]
        for v in VARIANTS:
            rs = [r for r in runs if variant_of(r) == v]
            if rs:
                acc = [100 * r["test_acc"] for r in rs]
                sd = f" ± {statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
                lines.append(
                    f"| {rs[0]['model']} | {LABELS[v]} | {len(rs)} | {statistics.fmean(acc):.2f}{sd} | "
                    f"{rs[0]['D']:,} |"
                )
    costs = cost_table(rows)
    if costs:
        lines += [
            "",
            "| net (32x32 input) | variant | parameters | change | MACs | change |",
            "|---|---|---|---|---|---|",
        ]
        for (arch, width), variants in sorted(costs.items()):
            base = variants.get("none")
            for v in VARIANTS:
                if v not in variants:
                    continue
                r = variants[v]
                dp = f"{change(r['parameters'], base['parameters']):+.1%}" if base and v != "none" else ""
                dm = f"{change(r['macs'], base['macs']):+.1%}" if base and v != "none" else ""
                lines.append(
                    f"| {NET_LABELS.get(arch, arch)} x{width} | {LABELS[v]} | {r['parameters']:,} | {dp} | "
                    f"{r['macs'] / 1e6:.1f}M | {dm} |"
                )
    return "\n".join(lines)


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    runs, costs = trained_runs(rows), cost_table(rows)
    if not runs and not costs:
        return []
    out = Path(out_dir) / "ulsam.png"
    with figure(out, ncols=2, size=(12, 4.2)) as (_, (ax, bx)):
        for i, v in enumerate(VARIANTS):
            acc = [100 * r["test_acc"] for r in runs if variant_of(r) == v]
            if acc:
                ax.bar(i, statistics.fmean(acc), 0.6, color=COLORS[v], alpha=0.8)
                ax.plot([i] * len(acc), acc, "k.", ms=6)
        if runs:
            all_acc = [100 * r["test_acc"] for r in runs]
            ax.set_ylim(min(all_acc) - 3, max(all_acc) + 2)
            ax.set_title(f"{runs[0]['model'].rsplit('-', 1)[0]}: test accuracy (dots: seeds)")
        ax.set_xticks(range(len(VARIANTS)), [LABELS[v] for v in VARIANTS], fontsize=8)
        ax.set_ylabel("test accuracy (%)")
        for (arch, width), variants in sorted(costs.items()):
            pts = [
                (variants[v]["parameters"] / 1e6, variants[v]["macs"] / 1e6, v)
                for v in VARIANTS
                if v in variants
            ]
            bx.plot([p for p, _, _ in pts], [m for _, m, _ in pts], "k-", alpha=0.3)
            for p, m, v in pts:
                bx.scatter(
                    p,
                    m,
                    color=COLORS[v],
                    s=40,
                    zorder=3,
                    label=LABELS[v] if (arch, width) == min(costs) else None,
                )
            bx.annotate(
                f"{NET_LABELS.get(arch, arch)} x{width}",
                (pts[0][0], pts[0][1]),
                fontsize=8,
                textcoords="offset points",
                xytext=(4, 4),
            )
        bx.set_xlabel("parameters (M)")
        bx.set_ylabel("MACs at 32x32 (M)")
        bx.set_title("Cost of each variant (counted)")
        if costs:
            bx.legend(fontsize=8)
    return [out]
