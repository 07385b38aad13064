"""Figures: final pose error per scene and method, the axes each detector flags, the Schur spectra at
convergence, and the speed-up of DCReg over the degeneracy-aware baselines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from subspacelab.numerics import dcreg as D
from subspacelab.numerics import icp as I
from subspacelab.papers.dcreg.claims import median_of, records
from subspacelab.papers.dcreg.experiment import AWARE, DETECTORS, LABEL, METHODS
from subspacelab.reporting.figures import figure


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    """Pose error per scene and method, each detector's flags per axis, the Schur spectra and the speed-ups."""
    out_dir = Path(out_dir)
    scenes = [s for s in I.SCENES if any(row.get("scene") == s for row in rows)]
    if not scenes:
        return []
    methods = [m for m in METHODS if any(records(rows, s, m) for s in scenes)]
    paths = []
    colors = dict(
        zip(METHODS, ("#7f7f7f", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"), strict=True)
    )

    # 1. final pose error per scene and method, with the paper's predicted band for DCReg
    with figure(out_dir / "dcreg_pose_error.png", ncols=2, size=(13, 4.2)) as (fig, axes):
        width = 0.8 / max(len(methods), 1)
        for ax, key, unit in ((axes[0], "trans_err", "m"), (axes[1], "rot_err", "deg")):
            for j, m in enumerate(methods):
                xs, med, lo, hi = [], [], [], []
                for i, s in enumerate(scenes):
                    v = np.array([r[key] for r in records(rows, s, m)])
                    if not len(v):
                        continue
                    xs.append(i - 0.4 + (j + 0.5) * width)
                    q = np.quantile(v, [0.25, 0.5, 0.75])
                    med.append(q[1])
                    lo.append(q[1] - q[0])
                    hi.append(q[2] - q[1])
                ax.bar(xs, med, width, yerr=[lo, hi], color=colors[m], label=LABEL[m], capsize=2)
            for i, s in enumerate(scenes):
                base = [median_of(rows, s, b, key) for b in methods if b != "dcreg"]
                base = [x for x in base if math.isfinite(x)]
                if not base:
                    continue
                if s == "room":
                    ref = median_of(rows, s, "plain", key)
                    ax.hlines(
                        ref,
                        i - 0.45,
                        i + 0.45,
                        colors="k",
                        linestyles="--",
                        label="paper: DCReg = baselines (room)" if i == len(scenes) - 1 else None,
                    )
                else:
                    ax.fill_between(
                        [i - 0.45, i + 0.45],
                        0.5 * min(base),
                        0.8 * min(base),
                        color="#d62728",
                        alpha=0.25,
                        zorder=0,
                        label="paper: DCReg 20-50% below best baseline" if i == 0 else None,
                    )
            ax.set_xticks(range(len(scenes)))
            ax.set_xticklabels(scenes, rotation=15)
            ax.set_yscale("log")
            ax.set_ylabel(f"final {key.replace('_err', '')} error ({unit}), median + IQR")
        axes[1].legend(fontsize=7)
        fig.suptitle("DCReg vs baselines: final pose error (same scans and initial poses)")
    paths.append(out_dir / "dcreg_pose_error.png")

    # 2. detection: per-axis flag rate of each detector vs the scene's degenerate axes
    with figure(
        out_dir / "dcreg_detection.png", ncols=len(scenes), size=(3.2 * len(scenes), 3.4), sharey=True
    ) as (fig, axes):
        axes = axes if isinstance(axes, list) else [axes]
        for ax, s in zip(axes, scenes, strict=True):
            for j, d in enumerate(DETECTORS):
                pts = [
                    p
                    for row in rows
                    if row.get("scene") == s
                    for p in row["points"]
                    if p.get("kind") == "detector" and p["detector"] == d
                ]
                if not pts:
                    continue
                n = np.array([p["iterations"] for p in pts], dtype=float)
                rate = (
                    np.sum([np.array(p["axis_rate"]) * k for p, k in zip(pts, n, strict=True)], axis=0)
                    / n.sum()
                )
                ax.bar(np.arange(6) - 0.4 + (j + 0.5) * 0.2, rate, 0.2, label=d)
            ax.scatter(
                np.arange(6),
                np.array(I.EXPECTED_MASK[s], dtype=float),
                marker="_",
                s=300,
                c="k",
                zorder=5,
                label="degenerate by geometry",
            )
            ax.set_xticks(range(6))
            ax.set_xticklabels(D.AXES, rotation=45)
            ax.set_title(s)
            ax.set_ylim(0, 1.05)
        axes[0].set_ylabel("fraction of ICP iterations flagged")
        axes[-1].legend(fontsize=7)
        fig.suptitle(
            "Which axes each detector flags (DCReg = Schur + axis alignment; block = same test without Schur)"
        )
    paths.append(out_dir / "dcreg_detection.png")

    # 3. aligned Schur eigenvalues at convergence, with DCReg's threshold lambda_max / kappa
    with figure(out_dir / "dcreg_schur_spectra.png", ncols=len(scenes), size=(3.2 * len(scenes), 3.4)) as (
        fig,
        axes,
    ):
        axes = axes if isinstance(axes, list) else [axes]
        for ax, s in zip(axes, scenes, strict=True):
            lam = [
                row["schur_lambda_last_median"]
                for row in rows
                if row.get("scene") == s and row.get("schur_lambda_last_median")
            ]
            if not lam:
                continue
            lam = np.median(np.array(lam), axis=0)
            cond = float(
                next(
                    (
                        row.get("experiment", {}).get("cond_threshold", D.COND_THRESHOLD)
                        for row in rows
                        if row.get("scene") == s
                    ),
                    D.COND_THRESHOLD,
                )
            )
            ax.bar(
                range(6),
                np.maximum(lam, 1e-3),
                color=["#d62728" if e else "#1f77b4" for e in I.EXPECTED_MASK[s]],
            )
            for blk in (slice(0, 3), slice(3, 6)):
                thr = np.max(lam[blk]) / cond
                ax.hlines(thr, blk.start - 0.4, blk.stop - 0.6, colors="k", linestyles="--")
            ax.set_yscale("log")
            ax.set_xticks(range(6))
            ax.set_xticklabels(D.AXES, rotation=45)
            ax.set_title(s)
        axes[0].set_ylabel("aligned Schur eigenvalue (median)")
        fig.suptitle(
            "Schur spectra per physical axis; red = degenerate by geometry, dashed = lambda_max / 10"
        )
    paths.append(out_dir / "dcreg_schur_spectra.png")

    # 4. speed: baseline / DCReg wall time, with the paper's 5-100x band
    with figure(out_dir / "dcreg_speedup.png", size=(8, 4)) as (fig, ax):
        aware = [m for m in AWARE if m in methods]
        for j, b in enumerate(aware):
            f = []
            for s in scenes:
                d_t, b_t = median_of(rows, s, "dcreg", "seconds"), median_of(rows, s, b, "seconds")
                f.append(b_t / d_t if d_t > 0 else float("nan"))
            ax.bar(
                np.arange(len(scenes)) - 0.4 + (j + 0.5) * 0.8 / len(aware),
                f,
                0.8 / len(aware),
                color=colors[b],
                label=LABEL[b],
            )
        ax.axhspan(5, 100, color="#d62728", alpha=0.15, label="paper: 5-100x faster")
        ax.axhline(1, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(scenes)))
        ax.set_xticklabels(scenes, rotation=15)
        ax.set_ylabel("baseline ICP time / DCReg ICP time")
        ax.legend(fontsize=7)
    paths.append(out_dir / "dcreg_speedup.png")
    return paths


def tables(rows: list[dict]) -> str:
    return ""  # the claims table and the figures carry the numbers
