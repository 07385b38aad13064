"""Accuracy against subspace dimension d, one figure per dataset."""

from __future__ import annotations

import statistics
from pathlib import Path

from subspacelab.papers.intrinsic_dimension.dint import accuracy_curves, baselines
from subspacelab.reporting.figures import figure


def accuracy_vs_d(rows: list[dict], data: str, out: Path, frac: float = 0.9) -> Path:
    """Test accuracy against d per model (mean ± sd over seeds), with each model's full-space accuracy
    (dotted) and ``frac`` x that accuracy (dashed)."""
    models = sorted({r["model"] for r in rows if r["data"] == data and r["method"] == "intrinsic"})
    with figure(out, size=(7, 4.5)) as (_, ax):
        for i, model in enumerate(models):
            color = f"C{i}"
            curves = accuracy_curves(rows, {"data": data, "model": model})
            ds = sorted({d for c in curves.values() for d in c})
            accs = [[c[d] for c in curves.values() if d in c] for d in ds]
            mean = [statistics.fmean(a) for a in accs]
            sd = [statistics.stdev(a) if len(a) > 1 else 0.0 for a in accs]
            ax.plot(ds, mean, "o-", color=color, label=f"{model} (n={len(curves)} seeds)")
            ax.fill_between(
                ds,
                [m - s for m, s in zip(mean, sd, strict=True)],
                [m + s for m, s in zip(mean, sd, strict=True)],
                color=color,
                alpha=0.2,
            )
            base = baselines(rows, {"data": data, "model": model})
            if base:
                b = statistics.fmean(base.values())
                ax.axhline(b, color=color, ls=":", lw=1)
                ax.axhline(frac * b, color=color, ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("subspace dimension d")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{data}: accuracy vs d (dotted: full space, dashed: {frac:.0%} of it)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    datasets = sorted({r["data"] for r in rows if r.get("method") == "intrinsic"})
    return [accuracy_vs_d(rows, data, out_dir / f"accuracy_vs_d_{data}.png") for data in datasets]


def tables(rows: list[dict]) -> str:
    return ""  # the report's accuracy table (every run's test accuracy by model and d) says it all
