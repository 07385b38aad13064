"""Plots as PNG files (matplotlib, no network: DVC's HTML plots load from a CDN)."""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from subspacelab.reporting import derive  # noqa: E402


def accuracy_vs_d(rows: list[dict], data: str, out: Path, frac: float = 0.9, title: str = "") -> Path:
    """Test accuracy against subspace dimension d per model (mean +- sd over seeds), with each
    model's full-space accuracy (dotted) and frac x that accuracy (dashed)."""
    models = sorted({r["model"] for r in rows if r["data"] == data and r["method"] == "intrinsic"})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, model in enumerate(models):
        color = f"C{i}"
        curves = derive.accuracy_curves(rows, {"data": data, "model": model})
        ds = sorted({d for c in curves.values() for d in c})
        accs = [[c[d] for c in curves.values() if d in c] for d in ds]
        mean = [statistics.fmean(a) for a in accs]
        sd = [statistics.stdev(a) if len(a) > 1 else 0.0 for a in accs]
        ax.plot(ds, mean, "o-", color=color, label=f"{model} (n={len(curves)} seeds)")
        lo = [m - s for m, s in zip(mean, sd, strict=True)]
        hi = [m + s for m, s in zip(mean, sd, strict=True)]
        ax.fill_between(ds, lo, hi, color=color, alpha=0.2)
        base = derive.baselines(rows, {"data": data, "model": model})
        if base:
            b = statistics.fmean(base.values())
            ax.axhline(b, color=color, ls=":", lw=1)
            ax.axhline(frac * b, color=color, ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("subspace dimension d")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or f"{data}: accuracy vs d (dotted: full space, dashed: {frac:.0%} of it)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
