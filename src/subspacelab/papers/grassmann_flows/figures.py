"""Validation perplexity over training per mixer, and forward+backward time against sequence length."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from subspacelab.papers.grassmann_flows.common import LABELS, MIXERS, TIMED, analysis_rows, lm_runs, mixer
from subspacelab.reporting.figures import figure

COLORS = {"attention": "tab:blue", "attention_nope": "tab:green", "grassmann": "tab:red"}


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    runs = lm_runs(rows)
    if not runs:
        return []
    out = Path(out_dir) / "grassmann_flows.png"
    a = analysis_rows(rows)
    with figure(out, ncols=2) as (_, (ax, bx)):
        for r in sorted(runs, key=lambda r: (MIXERS.index(mixer(r)), r["seed"])):
            if r["curve"]:
                steps, losses = zip(*r["curve"], strict=True)
                ax.plot(
                    steps,
                    [math.exp(min(x, 12)) for x in losses],
                    color=COLORS[mixer(r)],
                    alpha=0.8,
                    label=f"{LABELS[mixer(r)]} (seed {r['seed']})",
                )
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("validation perplexity")
        ax.set_title("Same LM, different token mixers")
        ax.legend(fontsize=7)
        for m in TIMED:
            pts = sorted((r["seq_len"], r["seconds"]) for r in a if r["mixer"] == m)
            if pts:
                bx.loglog(*zip(*pts, strict=True), "o-", color=COLORS[m], label=LABELS[m])
        if a:
            n0 = min(r["seq_len"] for r in a)
            t0 = min(r["seconds"] for r in a if r["seq_len"] == n0)
            ns = sorted({r["seq_len"] for r in a})
            bx.loglog(ns, [t0 * n / n0 for n in ns], "k:", label="linear")
            bx.loglog(ns, [t0 * (n / n0) ** 2 for n in ns], "k--", alpha=0.4, label="quadratic")
            bx.set_xticks(ns, [str(n) for n in ns])
            bx.minorticks_off()
            bx.legend(fontsize=8)
        bx.set_xlabel("sequence length L")
        bx.set_ylabel("forward+backward seconds")
        bx.set_title("Cost against sequence length")
        bx.grid(alpha=0.3, which="both")
    return [out]


def tables(rows: list[dict]) -> str:
    runs = lm_runs(rows)
    if not runs:
        return ""
    lines = ["| mixer | val ppl (mean ± sd) | seeds | parameters | step time (s) |", "|---|---|---|---|---|"]
    for m in MIXERS:
        rs = [r for r in runs if mixer(r) == m]
        if not rs:
            continue
        ppl = [r["val_ppl"] for r in rs]
        sd = f" ± {statistics.stdev(ppl):.2f}" if len(ppl) > 1 else ""
        lines.append(
            f"| {LABELS[m]} | {statistics.fmean(ppl):.2f}{sd} | {len(rs)} | {rs[0]['D']:,} | "
            f"{statistics.fmean(r['step_seconds'] for r in rs):.3f} |"
        )
    a = analysis_rows(rows)
    if a:
        lens = sorted({r["seq_len"] for r in a})
        lines += [
            "",
            "| forward+backward seconds (batch 1, 1 thread) | " + " | ".join(f"L={n}" for n in lens) + " |",
            "|---|" + "---|" * len(lens),
        ]
        for m in TIMED:
            t = {r["seq_len"]: r["seconds"] for r in a if r["mixer"] == m}
            lines.append(f"| {LABELS[m]} | " + " | ".join(f"{t[n]:.3f}" for n in lens) + " |")
    return "\n".join(lines)
