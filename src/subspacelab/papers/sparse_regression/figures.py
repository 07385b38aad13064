"""Prediction error against N per configuration (with the least-squares and oracle theory curves), N_eps/d
per configuration and baseline, and the same N_eps as a table. Baselines only: the paper's algorithm is not
implemented."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import matplotlib.ticker
import numpy as np

from subspacelab.numerics import sparse_regression as sr
from subspacelab.papers.sparse_regression.claims import pooled_n_eps
from subspacelab.papers.sparse_regression.experiment import METHODS, SUPPORTS, _ls_theory_n_eps
from subspacelab.reporting.figures import figure

STYLE = {
    "lasso": ("C0", "o"),
    "lasso_cv": ("C1", "s"),
    "lasso_best": ("C4", "D"),
    "omp": ("C2", "^"),
    "least_squares": ("C3", "v"),
    "oracle": ("C7", "."),
}
KEY_FIELDS = ("design", "kappa", "support", "values")


def run_key(r: dict) -> tuple:
    e = r.get("experiment", {})
    return (
        e.get("design", r.get("design")),
        float(e.get("kappa", 1.0)),
        e.get("support", r.get("support")),
        e.get("values", r.get("values")),
    )


def run_title(key: tuple, sep: str = "\n") -> str:
    design, kappa, support, values = key
    kap = f" κ={kappa:.0e}" if design in sr.KAPPA_DESIGNS else ""
    return f"{design}{kap}{sep}{support} support, {values} values"


def groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Runs by configuration (design, kappa, support, values), in a fixed order."""
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(run_key(r), []).append(r)
    order = sorted(
        out,
        key=lambda k: (
            sr.DESIGNS.index(k[0]) if k[0] in sr.DESIGNS else 9,
            k[1],
            SUPPORTS.index(k[2]) if k[2] in SUPPORTS else 9,
            k[3],
        ),
    )
    return {k: out[k] for k in order}


def n_eps_by_config(rows: list[dict]) -> dict[tuple, dict[str, dict]]:
    """configuration -> method -> pooled N_eps (``claims.pooled_n_eps``) for every baseline that ran."""
    out = {}
    for key, rs in groups(rows).items():
        sel = dict(zip(KEY_FIELDS, key, strict=True))
        out[key] = {m: res for m in METHODS if (res := pooled_n_eps(rs, sel, m)) is not None}
    return out


def _nice_ticks(ngrid) -> list[float]:
    """At most ~6 of the grid's N values, spread in log scale, for readable tick labels."""
    ns = sorted(float(n) for n in ngrid)
    if len(ns) <= 6:
        return ns
    idx = np.unique(np.round(np.linspace(0, len(ns) - 1, 6)).astype(int))
    return [ns[i] for i in idx]


def error_vs_n(rows: list[dict], out: Path) -> Path:
    by = groups(rows)
    ncol = min(4, len(by))
    nrow = math.ceil(len(by) / ncol)
    with figure(out, ncols=ncol, nrows=nrow, size=(4.2 * ncol, 3.4 * nrow + 0.4)) as (fig, axes):
        axes = list(np.atleast_1d(axes))
        for ax, (key, rs) in zip(axes, by.items(), strict=False):
            d, k, sigma, eps = rs[0]["d"], rs[0]["k"], rs[0]["sigma"], rs[0]["eps"]
            for m in [m for m in METHODS if any(p["method"] == m for p in rs[0]["points"])]:
                ns = sorted({p["n"] for r in rs for p in r["points"] if p["method"] == m})
                med = [
                    statistics.median(
                        p["median_err"] for r in rs for p in r["points"] if p["method"] == m and p["n"] == n
                    )
                    for n in ns
                ]
                color, marker = STYLE.get(m, ("k", "x"))
                ax.plot(ns, med, marker=marker, color=color, lw=1.2, ms=4, label=m)
            ngrid = np.array(sorted({p["n"] for r in rs for p in r["points"]}), dtype=float)
            nfine = np.geomspace(ngrid.min(), ngrid.max(), 200)
            ax.plot(
                nfine,
                sr.least_squares_expected_error(nfine, d, sigma),
                "--",
                color="C3",
                lw=1,
                label="theory LS σ²min(N,d)/N",
            )
            ax.plot(
                nfine,
                sr.oracle_expected_error(nfine, k, sigma),
                ":",
                color="C7",
                lw=1,
                label="theory oracle σ²k/N",
            )
            ax.axhline(eps, color="k", lw=0.8, ls="-.", label=f"ε={eps:g}")
            ax.axvline(d, color="grey", lw=0.8, ls=":", label="N=d")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(_nice_ticks(ngrid)))
            ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_title(run_title(key), fontsize=8)
            ax.set_xlabel("N (samples)", fontsize=8)
            ax.set_ylabel("median (1/N)||X(ŵ−w*)||²", fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in axes[len(by) :]:
            ax.axis("off")
        axes[0].legend(fontsize=6)
        fig.suptitle("Prediction error vs N (paper's algorithm not run: baselines only)", fontsize=10)
    return out


def n_eps_plot(rows: list[dict], out: Path) -> Path:
    table = n_eps_by_config(rows)
    keys = list(table)
    methods = [m for m in METHODS if any(m in v for v in table.values())]
    width = 0.8 / max(1, len(methods))
    with figure(out, size=(max(6.0, 0.75 * len(keys) + 2) + 3.0, 4.6)) as (_, ax):
        for j, m in enumerate(methods):
            xs, ys, open_x, open_y = [], [], [], []
            for i, key in enumerate(keys):
                res = table[key].get(m)
                if res is None:
                    continue
                x = i + (j - (len(methods) - 1) / 2) * width
                if res["frac"] is None:
                    open_x.append(x)
                    open_y.append(res["n_max"] / res["d"])
                else:
                    xs.append(x)
                    ys.append(res["frac"])
            color, marker = STYLE.get(m, ("k", "x"))
            ax.scatter(xs, ys, color=color, marker=marker, label=m, zorder=3)
            ax.scatter(open_x, open_y, facecolors="none", edgecolors=color, marker=marker, zorder=3)
        d0, s0, e0, k0 = rows[0]["d"], rows[0]["sigma"], rows[0]["eps"], rows[0]["k"]
        ls_theory = _ls_theory_n_eps(d0, s0, e0)
        ax.axhline(1.0, color="grey", ls=":", lw=1, label="N = d")
        if ls_theory is not None:
            ax.axhline(ls_theory / d0, color="C3", ls="--", lw=1, label="theory LS: σ²d/ε")
        ax.axhline(
            s0**2 * k0 * math.log(d0 / k0) / e0 / d0,
            color="C9",
            ls="-.",
            lw=1,
            label="σ²k·log(d/k)/ε (info-theoretic order, constant 1)",
        )
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([run_title(k) for k in keys], rotation=60, ha="right", fontsize=6)
        ax.set_yscale("log")
        ax.set_ylabel("N_ε / d  (open marker: not reached by max N)")
        ax.set_title(f"Samples to reach ε={e0:g} (d={d0}, k={k0}, σ={s0:g})", fontsize=9)
        ax.grid(True, axis="y", which="both", alpha=0.25)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    if not rows:
        return []
    out_dir = Path(out_dir)
    return [
        error_vs_n(rows, out_dir / "sparse_regression_error_vs_n.png"),
        n_eps_plot(rows, out_dir / "sparse_regression_n_eps.png"),
    ]


def tables(rows: list[dict]) -> str:
    """N_eps (in units of d) of every baseline per configuration; '>x' = not reached by the largest N."""
    table = n_eps_by_config(rows)
    if not table:
        return ""
    methods = [m for m in METHODS if any(m in v for v in table.values())]

    def cell(res: dict | None) -> str:
        if res is None:
            return "–"
        return f">{res['n_max'] / res['d']:.2g}" if res["frac"] is None else f"{res['frac']:.2g}"

    lines = [
        "N_ε / d per configuration (pooled trials; '>x': not reached by N = x·d; the paper's algorithm "
        "is not run)",
        "",
        "| configuration | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for key, res in table.items():
        lines.append(
            f"| {run_title(key, sep=', ')} | " + " | ".join(cell(res.get(m)) for m in methods) + " |"
        )
    return "\n".join(lines) + "\n"
