"""mlfsr's plots and tables: every arm's test PSNR (seed mean ± sd) beside its parameters, and each architecture's
inference seconds and peak activation memory against the input's side."""

from __future__ import annotations

from pathlib import Path

from subspacelab.papers.mlfsr.claims import efficiency_curve
from subspacelab.papers.mlfsr.experiment import ARMS
from subspacelab.reporting.arms import arm_stats, arms_in
from subspacelab.reporting.figures import figure

ORDER = ("bicubic", *ARMS)
ARCHITECTURES = ("cnn", "transformer", "mamba")
COSTS = (("seconds", "inference seconds (1 thread)"), ("peak_mb", "peak activation memory (MiB)"))


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    made = []
    arms = arms_in(rows, ORDER)
    if arms:
        out = out_dir / "psnr.png"
        with figure(out) as (_, ax):
            stats = [arm_stats(rows, a, "psnr") for a in arms]
            ax.bar(range(len(arms)), [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=3)
            ax.set_xticks(range(len(arms)), arms, rotation=20)
            ax.set_ylabel("test PSNR (dB), x2, 5 x 5 views")
            ax.set_ylim(min(s[0] - s[1] for s in stats) - 0.5, max(s[0] + s[1] for s in stats) + 0.3)
        made.append(out)
    curves = {a: {m: efficiency_curve(rows, a, m) for m, _ in COSTS} for a in ARCHITECTURES}
    if any(c["seconds"] for c in curves.values()):
        out = out_dir / "efficiency.png"
        with figure(out, ncols=2) as (_, axes):
            for ax, (metric, label) in zip(axes, COSTS, strict=True):
                for arm, c in curves.items():
                    if c[metric]:
                        ax.plot(list(c[metric]), list(c[metric].values()), marker="o", label=arm)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel("LR view side (pixels), one 5 x 5 light field")
                ax.set_ylabel(label)
                ax.legend()
        made.append(out)
    return made


def tables(rows: list[dict]) -> str:
    arms = arms_in(rows, ORDER)
    if not arms:
        return ""
    n = max(arm_stats(rows, a, "psnr")[2] for a in arms)
    lines = [f"Every arm on the whole test light fields (seed mean ± sd, n = {n} seeds; PSNR per view, averaged):",
             "", "| arm | parameters | PSNR (dB) | MAE |", "|---|---|---|---|"]  # fmt: skip
    for arm in arms:
        size, psnr, mae = (arm_stats(rows, arm, m) for m in ("parameters", "psnr", "mae"))
        lines.append(f"| {arm} | {f'{int(size[0]):,}' if size[2] else '-'} | {psnr[0]:.3f} ± {psnr[1]:.3f} | "
                     f"{mae[0]:.4f} ± {mae[1]:.4f} |")  # fmt: skip
    curves = {a: {m: efficiency_curve(rows, a, m) for m, _ in COSTS} for a in ARCHITECTURES}
    sides = sorted({s for c in curves.values() for s in c["seconds"]})
    if sides:
        lines += ["", "Inference of one light field (5 x 5 views of side s, untrained weights; seed mean):", "",
                  "| arm | " + " | ".join(f"s = {s}: seconds, MiB" for s in sides) + " |",
                  "|---|" + "---|" * len(sides)]  # fmt: skip
        for arm, c in curves.items():
            cells = [
                f"{c['seconds'][s]:.3f}, {c['peak_mb'][s]:.1f}" if s in c["seconds"] else "-" for s in sides
            ]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
