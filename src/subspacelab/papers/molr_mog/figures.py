"""Score error against n and against D (synthetic study), class-conditional sample grids (MNIST study), and
the tables of both."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from subspacelab.papers.molr_mog.aggregate import (
    COLORS,
    LABELS,
    decode_grid,
    error_table,
    fmt,
    mnist_rows,
    synthetic_rows,
)
from subspacelab.papers.molr_mog.experiment import MODELS
from subspacelab.reporting.figures import figure


def error_vs_n(syn: list[dict], out: Path) -> Path:
    """Median error against n, one panel per D, with n^{-1/2} and n^{-1} guides."""
    Ds = sorted({int(r["ambient"]) for r in syn})
    with figure(out, ncols=len(Ds), size=(4.2 * len(Ds), 3.8), sharey=True) as (_, axes):
        axes = axes if isinstance(axes, list) else [axes]
        for ax, D in zip(axes, Ds, strict=True):
            for m in MODELS:
                t = error_table(syn, m).get(D)
                if t:
                    ax.plot(list(t), list(t.values()), marker="o", color=COLORS[m], label=LABELS[m])
            t = error_table(syn, "mog").get(D)
            if t:
                n0, e0 = min(t), t[min(t)]
                ns = np.array(sorted(t), dtype=float)
                ax.plot(ns, e0 * (ns / n0) ** -0.5, "k:", lw=1, label="∝ n^-1/2")
                ax.plot(ns, e0 * (ns / n0) ** -1.0, "k--", lw=0.8, label="∝ n^-1")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("training samples n")
            ax.set_title(f"D = {D}")
        axes[0].set_ylabel("σ²-weighted score error (median over seeds)")
        axes[-1].legend(fontsize=7)
    return out


def error_vs_D(syn: list[dict], out: Path) -> Path:
    """Median error against D, one line per (model, n); darker = larger n."""
    Ds = sorted({int(r["ambient"]) for r in syn})
    with figure(out, size=(5, 3.8)) as (_, ax):
        for m in MODELS:
            table = error_table(syn, m)
            if not table:
                continue
            ns = sorted({n for t in table.values() for n in t})
            for i, n in enumerate(ns):
                ds = [D for D in Ds if n in table.get(D, {})]
                ax.plot(
                    ds,
                    [table[D][n] for D in ds],
                    marker="o",
                    color=COLORS[m],
                    alpha=0.35 + 0.65 * i / max(1, len(ns) - 1),
                    label=LABELS[m] if i == len(ns) - 1 else None,
                )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("ambient dimension D")
        ax.set_ylabel("σ²-weighted score error")
        ax.set_title("error vs D (one line per n; darker = larger n)")
        ax.legend(fontsize=7)
    return out


def mnist_samples(run: dict, out: Path) -> Path:
    """The stored sample grids of one MNIST run: real test digits and each model, one row per digit."""
    grids = run["grids"]
    names = [g for g in ("real", *MODELS) if g in grids]
    with figure(out, ncols=len(names), size=(2.6 * len(names), 4.6)) as (fig, axes):
        axes = axes if isinstance(axes, list) else [axes]
        for ax, name in zip(axes, names, strict=True):
            g = decode_grid(grids[name])  # (10, per, 28, 28)
            tile = g.transpose(0, 2, 1, 3).reshape(10 * 28, g.shape[1] * 28)
            ax.imshow(tile, cmap="gray", vmin=0, vmax=255)
            ax.set_title("real test digits" if name == "real" else LABELS[name], fontsize=8)
            ax.axis("off")
        fig.suptitle(f"class-conditional samples, one row per digit (seed {run.get('seed', 0)})", fontsize=9)
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    syn = synthetic_rows(rows)
    if syn:
        written += [
            error_vs_n(syn, out_dir / "molr_mog_error_vs_n.png"),
            error_vs_D(syn, out_dir / "molr_mog_error_vs_D.png"),
        ]
    mn = [r for r in mnist_rows(rows) if "grids" in r]
    if mn:
        written.append(mnist_samples(mn[0], out_dir / "molr_mog_mnist_samples.png"))
    return written


def tables(rows: list[dict]) -> str:
    lines = []
    syn = synthetic_rows(rows)
    if syn:
        lines += [
            "σ²-weighted score error E||D̂ − D*||²/σ² (mean over σ, median over seeds), and the sliced W2 of "
            "ODE samples to fresh true samples:",
            "",
            "| D | n | "
            + " | ".join(f"{m} error" for m in MODELS)
            + " | "
            + " | ".join(f"{m} SW2" for m in MODELS)
            + " | truth SW2 |",
            "|---|---|" + "---|" * (2 * len(MODELS) + 1),
        ]
        err = {m: error_table(syn, m) for m in MODELS}
        sw = {m: error_table(syn, m, "sliced_w2") for m in (*MODELS, "truth")}
        for D in sorted({D for t in err.values() for D in t}):
            for n in sorted({n for m in MODELS for n in err[m].get(D, {})}):
                cells = [fmt(err[m][D][n]) if n in err[m].get(D, {}) else "-" for m in MODELS]
                cells += [fmt(sw[m][D][n]) if n in sw[m].get(D, {}) else "-" for m in (*MODELS, "truth")]
                lines.append(f"| {D} | {n} | " + " | ".join(cells) + " |")
        params = {}
        for r in syn:
            params.setdefault(int(r["ambient"]), r.get("parameters", {}))
        lines += [
            "",
            "Parameters: "
            + "; ".join(
                f"D={D}: " + ", ".join(f"{m} {v}" for m, v in p.items()) for D, p in sorted(params.items())
            ),
        ]
    mn = mnist_rows(rows)
    if mn:
        metrics = ("intended_prob", "accuracy", "feature_fd", "diversity_ratio")
        lines += [
            "",
            "MNIST, class-conditional samples judged by the pipeline's classifier (mean over seeds; "
            f"classifier test accuracy {statistics.fmean(r['classifier_test_accuracy'] for r in mn):.4f}):",
            "",
            "| images | " + " | ".join(metrics) + " | expert parameters |",
            "|---|" + "---|" * (len(metrics) + 1),
        ]
        for m in ("real_test", "pca_ceiling", *MODELS):
            if not any(m in r for r in mn):
                continue
            vals = [statistics.fmean(r[m][k] for r in mn if m in r) for k in metrics]
            params = statistics.fmean(r[m].get("expert_parameters", 0) for r in mn if m in r)
            name = {
                "real_test": "real test digits",
                "pca_ceiling": "real digits through the PCA decoder",
            }.get(m, LABELS.get(m))
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {params:.0f} |")
        lines.append(
            f"\nPer-digit PCA decoders (shared by every model): {mn[0]['decoder_parameters']} parameters."
        )
    return "\n".join(lines)
