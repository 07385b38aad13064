"""DSE figures: DSE and binned entropy against intrinsic dimension per noise level (toy study), and DSE / DSMI
along training for clean and random labels (training study)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

from subspacelab.papers.dse.claims import toy_rows, training_rows
from subspacelab.papers.dse.experiment import LABELS
from subspacelab.reporting.figures import figure

PANELS = [
    ("dse_z", "DSE(Z)", "paper: rises"),
    ("dse_z_fixed_scale", "DSE(Z), Z rescaled to epoch-0 spread", "our control, not in the paper"),
    ("dsmi_zy", "DSMI(Z;Y)", "paper: rises (clean), flat (random)"),
    ("dsmi_zx", "DSMI(Z;X)", "paper: rises on MNIST, falls on CIFAR-10"),
    ("cse_z", "CSE(Z)", "classic baseline"),
    ("probe_acc", "probe accuracy", ""),
    ("z_scale", "RMS spread of Z", "DSE's fixed sigma makes it scale-dependent"),
]
COLORS = {"clean": "#1f77b4", "random": "#d62728"}


def toy_figure(toy: list[dict], out: Path) -> Path:
    """DSE (top) and CSE (bottom) against k, one column per distribution, one curve per noise level."""
    t = int(toy[0].get("toy_t", 1))
    n_points = int(toy[0].get("n_points", 2))
    pts = [p for row in toy for p in row["points"] if p.get("kind") == "toy" and p["t"] == t]
    dists = sorted({p["distribution"] for p in pts})
    noises = sorted({p["noise"] for p in pts})
    cmap = matplotlib.colormaps["viridis"]
    ncols = len(dists)
    with figure(out, ncols=ncols, nrows=2, size=(5.5 * ncols, 7.5), sharex=True) as (_, axes):
        top, bottom = axes[:ncols], axes[ncols:]
        for j, dist in enumerate(dists):
            for i, noise in enumerate(noises):
                sel = [p for p in pts if p["distribution"] == dist and p["noise"] == noise]
                ks = sorted({p["k"] for p in sel})
                dse = [np.mean([p["dse_mean"] for p in sel if p["k"] == k]) for k in ks]
                sd = [np.mean([p["dse_std"] for p in sel if p["k"] == k]) for k in ks]
                cse = [np.mean([p["cse_mean"] for p in sel if p["k"] == k]) for k in ks]
                color = cmap(i / max(len(noises) - 1, 1))
                top[j].errorbar(ks, dse, yerr=sd, color=color, marker="o", ms=3, label=f"noise {noise:g}")
                bottom[j].plot(ks, cse, color=color, marker="o", ms=3, label=f"noise {noise:g}")
            top[j].axhline(
                math.log2(n_points),
                color="k",
                ls="--",
                lw=0.8,
                label="max possible DSE, log2 N (flat spectrum)",
            )
            bottom[j].axhline(math.log2(n_points), color="k", ls="--", lw=0.8, label="log2 N: CSE saturation")
            top[j].set_title(f"{dist}: DSE (t={t}); paper: rises with k, unmoved by noise")
            bottom[j].set_title(f"{dist}: classic Shannon entropy; paper: saturates")
            bottom[j].set_xlabel(f"intrinsic dimension k (ambient D = {int(toy[0].get('ambient_dim', 0))})")
            top[j].set_ylabel("DSE (bits)")
            bottom[j].set_ylabel("CSE (bits)")
        top[0].legend(fontsize=7)
        bottom[0].legend(fontsize=7)
    return out


def _draw_panel(ax, rows: list[dict], ds: str, m: str) -> None:
    """Per-seed curves (thin) and their mean (thick) for both label kinds, with the paper's predicted direction
    from the initial value as a dashed arrow (up for clean labels, DSMI(Z;X) down on CIFAR-10, flat for
    DSMI(Z;Y) with random labels)."""
    arrows: list[tuple[str, float, float]] = []
    for labels in LABELS:
        curves = []
        for r in training_rows(rows, labels, ds):
            ep = [p["epoch"] for p in r["points"] if p.get("kind") == "epoch"]
            v = [p.get(m) for p in r["points"] if p.get("kind") == "epoch"]
            if any(x is None for x in v):
                continue
            ax.plot(ep, v, color=COLORS[labels], alpha=0.3, lw=0.8)
            curves.append((ep, v))
        if curves:
            n = min(len(c[1]) for c in curves)
            ax.plot(
                curves[0][0][:n],
                np.mean([c[1][:n] for c in curves], axis=0),
                color=COLORS[labels],
                lw=2,
                label=f"{labels} labels",
            )
            if m in ("dse_z", "dsmi_zy", "dsmi_zx"):
                arrows.append((labels, float(np.mean([c[1][0] for c in curves])), curves[0][0][n - 1]))
    lo, hi = ax.get_ylim()
    for labels, y0, x1 in arrows:
        if labels == "clean":
            dy = (-0.4 if (m == "dsmi_zx" and ds == "cifar10") else 0.4) * (hi - lo)
        elif m == "dsmi_zy":
            dy = 0.0
        else:
            continue
        ax.annotate(
            "",
            xy=(x1, y0 + dy),
            xytext=(0, y0),
            arrowprops={"arrowstyle": "->", "ls": "--", "color": COLORS[labels], "alpha": 0.6},
        )
        lo, hi = min(lo, y0 + 1.05 * dy), max(hi, y0 + 1.05 * dy)
    ax.set_ylim(lo, hi)


def training_figure(rows: list[dict], out: Path) -> Path:
    """One row per dataset, one column per measure, along the epochs."""
    datasets = sorted({r["dataset"] for r in training_rows(rows)})
    ncols, nrows = len(PANELS), len(datasets)
    with figure(out, ncols=ncols, nrows=nrows, size=(3.4 * ncols, 3.0 * nrows)) as (fig, axes):
        axes = axes if isinstance(axes, list) else [axes]
        for i, ds in enumerate(datasets):
            for j, (m, title, pred) in enumerate(PANELS):
                ax = axes[i * ncols + j]
                _draw_panel(ax, rows, ds, m)
                ax.set_title(f"{ds}: {title}", fontsize=9)
                if pred:
                    ax.text(0.02, 0.02, pred, transform=ax.transAxes, fontsize=6.5, color="gray")
                ax.set_xlabel("epoch")
        axes[0].legend(fontsize=7)
        fig.suptitle(
            "DSE/DSMI of the penultimate layer on a fixed probe set "
            "(dashed arrows: the paper's predicted direction)"
        )
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    paths = []
    toy = toy_rows(rows)
    if toy:
        paths.append(toy_figure(toy, out_dir / "dse_toy.png"))
    if training_rows(rows):
        paths.append(training_figure(rows, out_dir / "dse_training.png"))
    return paths


def tables(rows: list[dict]) -> str:
    return ""  # the claims table carries the numbers; the figures show the curves
