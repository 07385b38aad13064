"""Figures: success curves in raw p and in the paper's units (with and without priors), error against noise,
PGD against the baselines, and the gain spread rho; the baselines' 50% points as a table."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from subspacelab.papers.blind_calibration.curves import (
    baseline_table,
    pooled_curves,
    rho_of,
    transitions,
    variant_of,
)
from subspacelab.papers.blind_calibration.experiment import METHODS
from subspacelab.reporting.figures import figure


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    """phase_transition_plain.png, phase_transition_priors.png, noise.png, baselines.png, rho.png
    (each only when its runs exist), with the theory's prediction on the same axes."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    rhos = [rho_of(r) for r in rows if variant_of(r) == "plain"]
    main = {"rho": statistics.mode(rhos)} if rhos else None  # the grid's main rho; others go to rho.png

    def curves(variant, method, select=None):
        return sorted(pooled_curves(rows, variant, method, select).items())

    # 1. Phase transition without priors: raw p vs the paper's units mp/(n+m).
    cs = curves("plain", "pgd", main)
    if cs:
        with figure(out_dir / "phase_transition_plain.png", ncols=2, size=(11, 4)) as (fig, axes):
            r50 = [v["r50"] for v in transitions(rows, "plain", "pgd", main).values() if v["r50"] is not None]
            for (n, m, _, _, _), c in cs:
                axes[0].plot(c["p"], c["rate"], "o-", ms=3, label=f"n={n}, m={m}")
                axes[1].plot(
                    [m * p / c["unknowns"] for p in c["p"]], c["rate"], "o-", ms=3, label=f"n={n}, m={m}"
                )
            axes[1].axvline(1.0, color="k", ls=":", label="counting bound mp = n+m")
            if r50:
                axes[1].axvline(
                    statistics.median(r50),
                    color="r",
                    ls="--",
                    label=f"collapse constant (median 50% point {statistics.median(r50):.2f})",
                )
            axes[0].set(
                xlabel="snapshots p",
                ylabel="empirical success probability",
                title=f"PGD, raw p (rho={main['rho']})",
            )
            axes[1].set(xlabel="mp / (n + m)", title="PGD, paper's units: theory says the curves collapse")
            for ax in axes:
                ax.set_ylim(-0.03, 1.03)
                ax.grid(alpha=0.3)
            axes[0].legend(fontsize=7)
            axes[1].legend(fontsize=7)
        paths.append(out_dir / "phase_transition_plain.png")

    # 2. With subspace priors: mp/(n+m) vs mp/(h+k).
    cs = curves("priors", "pgd")
    if cs:
        with figure(out_dir / "phase_transition_priors.png", ncols=2, size=(11, 4)) as (fig, axes):
            plain_r50 = [
                v["r50"] for v in transitions(rows, "plain", "pgd", main).values() if v["r50"] is not None
            ]
            for (n, m, h, k, _), c in cs:
                axes[0].plot([m * p / (n + m) for p in c["p"]], c["rate"], "o-", ms=3, label=f"h={h}, k={k}")
                axes[1].plot(
                    [m * p / (h + k) for p in c["p"]],
                    c["rate"],
                    "o-",
                    ms=3,
                    label=f"h={h}, k={k} (n={n}, m={m})",
                )
            axes[1].axvline(1.0, color="k", ls=":", label="counting bound mp = h+k")
            if plain_r50:
                axes[1].axvline(
                    statistics.median(plain_r50),
                    color="r",
                    ls="--",
                    label=f"no-prior constant {statistics.median(plain_r50):.2f} (mp/(n+m) units)",
                )
            axes[0].set(
                xlabel="mp / (n + m)",
                ylabel="empirical success probability",
                title="PGD with priors, no-prior units",
            )
            axes[1].set(
                xlabel="mp / (h + k)", title="PGD with priors, prior units: theory says they collapse"
            )
            for ax in axes:
                ax.set_ylim(-0.03, 1.03)
                ax.grid(alpha=0.3)
            axes[1].legend(fontsize=7)
        paths.append(out_dir / "phase_transition_priors.png")

    # 3. Noise: error vs noise level with the theory's proportional law.
    noise_rows = [r for r in rows if variant_of(r) == "noise"]
    if noise_rows:
        with figure(out_dir / "noise.png", size=(6, 4.2)) as (fig, ax):
            for row in noise_rows:
                cfg = row.get("experiment", {})
                what = f"n={row['n']}, m={row['m']}, p={row['p_values'][0]}"
                for method, style in zip(METHODS, ("o-", "s--", "^-."), strict=True):
                    pts = [q for q in row["points"] if q["method"] == method and q["median_err"] is not None]
                    if pts:
                        ax.loglog(
                            [q["noise"] for q in pts],
                            [q["median_err"] for q in pts],
                            style,
                            ms=4,
                            label=f"{method}, {what} (seed {row.get('seed', cfg.get('seed'))})",
                        )
                pts = [q for q in row["points"] if q["method"] == "pgd" and q["median_err"] is not None]
                if pts:
                    lv = np.array([q["noise"] for q in pts])
                    ax.loglog(lv, pts[0]["median_err"] * lv / lv[0], "k:", lw=1)
            ax.plot([], [], "k:", label="theory: error proportional to noise (slope 1)")
            ax.set(
                xlabel="noise level (noise RMS / measurement RMS)",
                ylabel="median max relative error",
                title="Noisy blind calibration",
            )
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=6)
        paths.append(out_dir / "noise.png")

    # 4. Baselines: PGD vs ALS vs linear LS (sizes where baselines ran).
    keys = sorted({key for method in ("als", "linear_ls") for key, _ in curves("plain", method, main)})
    if keys:
        with figure(out_dir / "baselines.png", ncols=len(keys), size=(3.6 * len(keys), 3.4)) as (fig, axes):
            axes = axes if isinstance(axes, list) else [axes]
            for ax, key in zip(axes, keys, strict=True):
                for method, style in zip(METHODS, ("o-", "s--", "^-."), strict=True):
                    c = dict(curves("plain", method, main)).get(key)
                    if c:
                        ax.plot(
                            [key[1] * p / c["unknowns"] for p in c["p"]], c["rate"], style, ms=3, label=method
                        )
                ax.axvline(1.0, color="k", ls=":", label="mp = n+m")
                ax.set(xlabel="mp / (n + m)", title=f"n={key[0]}, m={key[1]}", ylim=(-0.03, 1.03))
                ax.grid(alpha=0.3)
            axes[0].set_ylabel("empirical success probability")
            axes[0].legend(fontsize=7)
        paths.append(out_dir / "baselines.png")

    # 5. Gain spread rho, where a size was run at several rho.
    allc = curves("plain", "pgd")
    sizes = sorted({(k[0], k[1]) for k, _ in allc if sum(1 for j, _ in allc if j[:2] == k[:2]) > 1})
    if sizes:
        with figure(out_dir / "rho.png", ncols=len(sizes), size=(4.5 * len(sizes), 3.6)) as (fig, axes):
            axes = axes if isinstance(axes, list) else [axes]
            for ax, (n, m) in zip(axes, sizes, strict=True):
                for key, c in allc:
                    if key[:2] == (n, m):
                        ax.plot(
                            [m * p / c["unknowns"] for p in c["p"]],
                            c["rate"],
                            "o-",
                            ms=3,
                            label=f"rho={key[4]}",
                        )
                ax.axvline(1.0, color="k", ls=":", label="mp = n+m")
                ax.set(
                    xlabel="mp / (n + m)",
                    ylabel="empirical success probability",
                    title=f"PGD, n={n}, m={m}",
                    ylim=(-0.03, 1.03),
                )
                ax.grid(alpha=0.3)
                ax.legend(fontsize=7)
        paths.append(out_dir / "rho.png")
    return paths


def tables(rows: list[dict]) -> str:
    """The 50% point in mp/(n+m) units of every method on the sizes where the baselines ran (not a claim)."""
    rhos = [rho_of(r) for r in rows if variant_of(r) == "plain"]
    table = baseline_table(rows, {"rho": statistics.mode(rhos)} if rhos else None)
    table = {size: v for size, v in table.items() if len(v) > 1}
    if not table:
        return ""
    methods = [m for m in METHODS if any(m in v for v in table.values())]
    lines = [
        "50% success point in mp/(n+m) units (trials pooled over seeds; - = never reached 50%):",
        "",
        "| size | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for size, v in table.items():
        cells = ["-" if v.get(m) is None else f"{v[m]:.2f}" for m in methods]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
