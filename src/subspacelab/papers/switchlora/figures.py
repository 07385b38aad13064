"""The SwitchLoRA report's table (perplexity, state bytes, update rank, speed per method) and figure (validation
curves; effective rank of the learned update)."""

from __future__ import annotations

import statistics
from pathlib import Path

from subspacelab.papers.switchlora.common import LABELS, METHOD_ORDER, single_process, with_device_bytes
from subspacelab.reporting.figures import figure

COLORS = dict(zip(METHOD_ORDER, ("black", "tab:blue", "tab:orange", "tab:green", "tab:red"), strict=True))


def tables(rows: list[dict]) -> str:
    single = single_process(rows)
    if not single:
        return ""
    lines = [
        "| method | val ppl (mean over seeds) | seeds | trainable params | optimizer state (MiB) | "
        "training state (MiB) | without buffers (MiB) | eff. rank of W_T - W_0 | step time (s) | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in METHOD_ORDER:
        rs = [r for r in single if r["method"] == m]
        if not rs:
            continue
        ppl = [r["val_ppl"] for r in rs]
        sd = f" ± {statistics.stdev(ppl):.2f}" if len(ppl) > 1 else ""
        step = statistics.fmean(r["step_seconds"] for r in rs)
        lines.append(
            f"| {LABELS[m]} | {statistics.fmean(ppl):.2f}{sd} | {len(rs)} | {rs[0]['trainable_parameters']:,} | "
            f"{rs[0]['optimizer_state_bytes'] / 2**20:.2f} | {rs[0]['training_state_bytes'] / 2**20:.2f} | "
            f"{with_device_bytes(rs[0])['device_state_bytes'] / 2**20:.2f} | "
            f"{statistics.fmean(r['delta_effective_rank_mean'] for r in rs):.1f} | {step:.3f} | "
            f"{rs[0]['tokens_per_batch'] / step:,.0f} |"
        )
    ddp = [r for r in rows if (r.get("world_size") or 1) > 1]
    if ddp:
        lines += [
            "",
            "DDP (2 CPU processes): bytes all-reduced per optimizer step, measured by a communication hook: "
            + ", ".join(
                f"{LABELS[r['method']]} {r['allreduce_bytes_per_step'] / 2**20:.2f} MiB "
                f"(ranks identical: max |diff| {r['ranks_max_abs_diff']:g})"
                for r in ddp
            ),
        ]
    return "\n".join(lines)


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    single = single_process(rows)
    if not single:
        return []
    out = Path(out_dir) / "switchlora_curves.png"
    with figure(out, ncols=2, size=(12, 4.2)) as (_, (ax, bx)):
        for r in sorted(single, key=lambda r: (METHOD_ORDER.index(r["method"]), r["seed"])):
            steps, losses = zip(*r["curve"], strict=True) if r["curve"] else ((), ())
            ax.plot(
                steps,
                [min(x, 12) for x in losses],
                color=COLORS[r["method"]],
                alpha=0.85,
                ls="-" if r["seed"] == 0 else "--",
                label=f"{LABELS[r['method']]} (seed {r['seed']})",
            )
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("validation loss (nats / token)")
        ax.set_title("Validation loss, every method and seed")
        ax.legend(fontsize=7, ncol=2)
        methods = [m for m in METHOD_ORDER if any(r["method"] == m for r in single)]
        eff = [
            statistics.fmean(r["delta_effective_rank_mean"] for r in single if r["method"] == m)
            for m in methods
        ]
        bx.bar([LABELS[m] for m in methods], eff, color=[COLORS[m] for m in methods])
        rank = next((x["r"] for x in single if x.get("r")), None)
        if rank:
            bx.axhline(rank, color="grey", ls=":", label=f"r = {rank}")
            bx.legend()
        bx.set_ylabel("effective rank of W_T - W_0 (mean over layers)")
        bx.set_title("Rank of the learned update")
    return [out]
