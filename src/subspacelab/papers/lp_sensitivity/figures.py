"""m* against 𝔖 per p (with the fitted slope, the paper's exponent and the general 𝔖·d trend), and the
distortion curves of every scheme on the largest-𝔖 matrix of each p."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.ticker
import numpy as np

from subspacelab.numerics import lp_sensitivity as lps
from subspacelab.papers.lp_sensitivity.claims import points
from subspacelab.reporting.figures import figure
from subspacelab.reporting.stats import loglog_slope


def _ps(rows: list[dict]) -> list[float]:
    return sorted({float(r["experiment"]["p"]) for r in rows})


def mstar_vs_total_sensitivity(rows: list[dict], out: Path) -> Path:
    ps = _ps(rows)
    with figure(out, ncols=len(ps), size=(4.6 * len(ps), 4)) as (fig, axes):
        for ax, p in zip(np.atleast_1d(axes), ps, strict=True):
            pts, _ = points(rows, p, "sensitivity")
            if len(pts) < 2:
                ax.set_title(f"p={p:g}: not enough points")
                continue
            S = np.array([q["S"] for q in pts])
            m = np.array([q["m_star"] for q in pts])
            dd = np.array([q["d"] for q in pts])
            sc = ax.scatter(S, m, c=np.log2(dd), cmap="viridis", zorder=3, label="measured m* (sensitivity)")
            fit = loglog_slope(S, m)
            grid = np.geomspace(S.min(), S.max(), 50)
            ax.plot(
                grid, np.exp(fit.intercept) * grid**fit.slope, "k-", label=f"pooled fit: slope {fit.text()}"
            )
            th = lps.theory_exponent(p)
            anchor = np.exp(np.mean(np.log(m)) - th * np.mean(np.log(S)))
            ax.plot(grid, anchor * grid**th, "r--", label=f"paper: S^{th:.2f} (constant fitted)")
            sd = S * dd
            k_sd = np.exp(np.mean(np.log(m)) - np.mean(np.log(sd)))
            ax.scatter(S, k_sd * sd, marker="x", color="gray", label="general S·d (constant fitted)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("total sensitivity S")
            ax.set_ylabel(f"m*(ε={pts[0]['eps_target']})")
            ax.set_title(f"p = {p:g}")
            ax.legend(fontsize=7)
            fig.colorbar(sc, ax=ax, label="log2 d")
    return out


def distortion_curves(rows: list[dict], out: Path) -> Path:
    ps = _ps(rows)
    with figure(out, ncols=len(ps), size=(4.6 * len(ps), 4)) as (_, axes):
        for ax, p in zip(np.atleast_1d(axes), ps, strict=True):
            run = next((r for r in rows if math.isclose(float(r["experiment"]["p"]), p)), None)
            curves = run.get("curves", []) if run else []
            if not curves:
                continue
            top = max(curves, key=lambda c: c["S"])
            key = (top["d"], top["t"])
            at_key = [c for c in curves if (c["d"], c["t"]) == key]
            for scheme in run["experiment"]["schemes"]:
                cs = sorted((c for c in at_key if c["scheme"] == scheme), key=lambda c: c["m"])
                ax.plot([c["m"] for c in cs], [c["eps_stat"] for c in cs], marker=".", label=scheme)
            ms = np.array(sorted({c["m"] for c in at_key}))
            sens = sorted((c for c in at_key if c["scheme"] == "sensitivity"), key=lambda c: c["m"])
            if sens:
                ref = sens[len(sens) // 2]
                ax.plot(ms, ref["eps_stat"] * np.sqrt(ref["m"] / ms), "r--", label="theory shape ∝ m^{-1/2}")
            ax.axhline(run["experiment"]["eps_target"], color="gray", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("expected sample size m")
            ax.set_ylabel("median distortion ε̂")
            ax.set_title(f"p={p:g}, d={key[0]}, t={key[1]}, S={top['S']:.1f}")
            ax.legend(fontsize=7)
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    if not _ps(rows):
        return []
    out_dir = Path(out_dir)
    return [
        mstar_vs_total_sensitivity(rows, out_dir / "lp_sensitivity_mstar_vs_S.png"),
        distortion_curves(rows, out_dir / "lp_sensitivity_distortion_curves.png"),
    ]


def tables(rows: list[dict]) -> str:
    return ""  # the claims table gives every fitted slope with its interval
