"""MI-estimation figures: every estimate per data set against the truth, the protocol's coverage per data model,
and the subsample-and-extrapolate fit itself."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from subspacelab.experiments import wilson_interval
from subspacelab.papers.mi_estimation.claims import records
from subspacelab.papers.mi_estimation.experiment import PROTOCOLS
from subspacelab.reporting.figures import figure

LABEL = {
    "ksg": "KSG (k=3)",
    "ksg_latent": "KSG on latents",
    "infonce": "plain InfoNCE",
    "protocol": "protocol (separable)",
    "protocol_vsib": "protocol (VSIB)",
}
COLOR = {
    "ksg": "#7f7f7f",
    "ksg_latent": "#bcbd22",
    "infonce": "#1f77b4",
    "protocol": "#d62728",
    "protocol_vsib": "#9467bd",
}
ORDER = ("ksg", "ksg_latent", "infonce", "protocol", "protocol_vsib")


def _axes(axes) -> list:
    return axes if isinstance(axes, list) else [axes]


def estimates_figure(rows: list[dict], recs: list[dict], models: list[tuple], out: Path) -> Path:
    """Estimates vs N per data model: truth, the InfoNCE batch cap, every estimator, protocol intervals."""
    bs = int(rows[0].get("experiment", {}).get("batch_size", 128))
    with figure(out, ncols=len(models), size=(4.6 * len(models), 4.6)) as (fig, axes):
        axes = _axes(axes)
        for ax, (kz, bits) in zip(axes, models, strict=True):
            rs = [r for r in recs if r["latent_dim"] == kz and r["mi_bits"] == bits]
            ns = sorted({r["n"] for r in rs})
            for j, est in enumerate(ORDER):
                for i, n in enumerate(ns):
                    sel = [r for r in rs if r["n"] == n and est in r]
                    if not sel:
                        continue
                    vals = [r[est] for r in sel]
                    xs = i + 0.16 * (j - 2) + np.linspace(-0.03, 0.03, len(vals))
                    if est in PROTOCOLS:
                        lo = [r[f"{est}_ci_low"] for r in sel]
                        hi = [r[f"{est}_ci_high"] for r in sel]
                        ax.errorbar(
                            xs,
                            vals,
                            yerr=[np.subtract(vals, lo), np.subtract(hi, vals)],
                            fmt="o",
                            ms=3,
                            color=COLOR[est],
                            capsize=2,
                            lw=0.8,
                            label=LABEL[est],
                        )
                    else:
                        ax.plot(
                            xs,
                            vals,
                            "s" if est.startswith("ksg") else "^",
                            ms=3.5,
                            color=COLOR[est],
                            ls="none",
                            label=LABEL[est],
                        )
            ax.axhline(bits, color="k", lw=1.2, label="true MI (closed form)")
            ax.axhline(math.log2(bs), color="#1f77b4", ls=":", lw=1, label=f"plain InfoNCE cap log2({bs})")
            ax.set_xticks(range(len(ns)))
            ax.set_xticklabels([f"N = {n}" for n in ns])
            ax.set_xlim(-0.6, len(ns) - 0.4)
            ax.set_title(f"K_Z = {kz}, I = {bits:g} bits, K = {rs[0]['ambient_dim']}")
        axes[0].set_ylabel("MI estimate (bits)")
        handles: dict = {}
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        axes[-1].legend(list(handles.values()), list(handles), fontsize=7, loc="best")
        fig.suptitle(
            "Estimates per data set (protocol: 68% interval of the extrapolated intercept)", fontsize=10
        )
    return out


def coverage_figure(rows: list[dict], recs: list[dict], models: list[tuple], out: Path) -> Path:
    """Coverage per data model and protocol (Wilson intervals), the flagged-reliable fraction, the nominal level."""
    conf = float(rows[0].get("experiment", {}).get("confidence", 0.68))
    with figure(out, size=(max(5, 1.6 * len(models) + 2), 3.6)) as (_, ax):
        for j, est in enumerate(PROTOCOLS):
            xs, cov, lo, hi, rel = [], [], [], [], []
            for i, (kz, bits) in enumerate(models):
                rs = [
                    r
                    for r in recs
                    if r["latent_dim"] == kz and r["mi_bits"] == bits and f"{est}_covered" in r
                ]
                if not rs:
                    continue
                k = sum(bool(r[f"{est}_covered"]) for r in rs)
                w = wilson_interval(k, len(rs))
                xs.append(i + (j - 0.5) * 0.35)
                cov.append(k / len(rs))
                lo.append(k / len(rs) - w[0])
                hi.append(w[1] - k / len(rs))
                rel.append(np.mean([bool(r[f"{est}_reliable"]) for r in rs]))
            if xs:
                ax.bar(
                    xs, cov, 0.33, yerr=[lo, hi], color=COLOR[est], capsize=3, label=f"{LABEL[est]}: coverage"
                )
                ax.scatter(
                    xs,
                    rel,
                    marker="x",
                    color="k",
                    zorder=5,
                    label="fraction flagged reliable" if j == 0 else None,
                )
        ax.axhline(conf, color="k", ls="--", lw=1, label=f"nominal {conf:.0%}")
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels([f"K_Z={kz}\nI={b:g} b" for kz, b in models])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("fraction of data sets")
        ax.legend(fontsize=7, loc="upper right")
    return out


def extrapolation_figure(recs: list[dict], models: list[tuple], out: Path) -> Path:
    """Mean per-gamma MI vs gamma/N with the fitted line and the intercept's interval, one panel per model."""
    with figure(out, ncols=len(models), size=(4.6 * len(models), 3.6)) as (fig, axes):
        axes = _axes(axes)
        for ax, (kz, bits) in zip(axes, models, strict=True):
            rs = [
                r
                for r in recs
                if r["latent_dim"] == kz and r["mi_bits"] == bits and "protocol_per_gamma" in r
            ]
            for i, n in enumerate(sorted({r["n"] for r in rs})):
                r = next(r for r in rs if r["n"] == n)
                pg = r["protocol_per_gamma"]
                gs = np.array(sorted(int(g) for g in pg))
                ax.plot(
                    gs / n,
                    [pg[g] if g in pg else pg[str(g)] for g in gs],
                    "o",
                    ms=3,
                    color=f"C{i}",
                    label=f"N={n} (one data set)",
                )
                gx = np.linspace(0, gs.max() / n, 20)
                ax.plot(gx, r["protocol"] + r["protocol_slope"] * gx * n, "-", color=f"C{i}", lw=0.8)
                ax.errorbar(
                    [0],
                    [r["protocol"]],
                    yerr=[[r["protocol"] - r["protocol_ci_low"]], [r["protocol_ci_high"] - r["protocol"]]],
                    fmt="s",
                    color=f"C{i}",
                    capsize=3,
                    ms=4,
                )
            ax.axhline(bits, color="k", lw=1.2, label="true MI")
            ax.set_xlabel("gamma / N  (1 / samples per chunk)")
            ax.set_title(f"K_Z = {kz}, I = {bits:g} bits")
            ax.legend(fontsize=7)
        axes[0].set_ylabel("max-test InfoNCE on the training part (bits)")
        fig.suptitle("Subsample-and-extrapolate: MI(gamma) ~ I + a gamma/N, intercept at gamma = 0")
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    recs = records(rows)
    if not recs:
        return []
    models = sorted({(r["latent_dim"], r["mi_bits"]) for r in recs})
    return [
        estimates_figure(rows, recs, models, out_dir / "mi_estimation_estimates.png"),
        coverage_figure(rows, recs, models, out_dir / "mi_estimation_coverage.png"),
        extrapolation_figure(recs, models, out_dir / "mi_estimation_extrapolation.png"),
    ]


def tables(rows: list[dict]) -> str:
    return ""  # the claims table carries the numbers per condition
