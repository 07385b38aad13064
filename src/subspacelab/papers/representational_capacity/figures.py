"""Figures: the packing fits, the held-out predictions, and ε of embedding matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.analysis import packing as P
from subspacelab.reporting.figures import figure

LABEL = {
    "jl": "JL  sqrt(C ln k / d)",
    "kd": "k/d  sqrt(C ln(k/d) / d)",
    "adjusted": "adjusted  sqrt(C ln(k^a/d)^b / d^c)",
    "released": "released constants",
    "jl_random": "JL on random packing",
}


def _log_ticks(ax, values) -> None:
    """Log x axis labelled at ``values`` only (matplotlib's minor labels overlap)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_xticks(list(values))
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.xaxis.set_minor_formatter(NullFormatter())


def packing_fits(row: dict, out: Path) -> Path:
    """Optimised and random ε* against k/d per d, with the fitted JL and k/d forms and Welch's bound."""
    import matplotlib.pyplot as plt

    cells = [c for c in row["points"] if c.get("kind") == "cell"]
    fit = row["fits"]["in_sample"]
    dims = sorted({c["d"] for c in cells})
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(dims)))
    with figure(out, ncols=2, size=(13, 4.8), sharey=True) as (fig, axes):
        for ax, form in zip(axes, ("jl", "kd"), strict=True):
            c_fit = fit[form]["params"]["C"]
            for col, d in zip(colors, dims, strict=True):
                cs = sorted((c for c in cells if c["d"] == d), key=lambda c: c["k"])
                ks = np.array([c["k"] for c in cs], float)
                ax.plot(ks / d, [c["eps_opt"] for c in cs], "o", color=col, label=f"optimised, d={d}")
                ax.plot(ks / d, [c["eps_random"] for c in cs], "x", color=col, alpha=0.6)
                kk = np.geomspace(ks.min(), ks.max(), 60)
                f = P.jl_form if form == "jl" else P.kd_form
                ax.plot(kk / d, f(kk, d, c_fit), "-", color=col)
                ax.plot(kk / d, P.welch_bound(kk, d), ":", color=col, alpha=0.5)
            _log_ticks(ax, sorted({c["k"] / c["d"] for c in cells}))
            ax.set_xlabel("k / d")
            ax.set_title(
                f"{LABEL[form]}, C = {c_fit:.3f} (in-sample, seed {row.get('seed', 0)})\n"
                f"MAPE {fit[form]['errors']['mape']:.1f}%"
            )
        axes[0].set_ylabel("ε* = max |cos|")
        axes[0].legend(fontsize=7)
        fig.suptitle(
            "o optimised ε*, x random ε*_random, solid: fitted form, dotted: Welch lower bound", fontsize=9
        )
    return out


def heldout_predictions(pk: list[dict], out: Path) -> Path:
    """Predicted against measured optimised ε* on the held-out cells, every form, every seed."""
    scope = "holdout" if all("holdout" in r["fits"] for r in pk) else "in_sample"
    styles = {
        "jl": ("s", "#d62728"),
        "kd": ("o", "#1f77b4"),
        "adjusted": ("^", "#2ca02c"),
        "released": ("v", "#7f7f7f"),
    }
    with figure(out, size=(6, 5.5)) as (_, ax):
        lo, hi = 1.0, 0.0
        for name, (mk, col) in styles.items():
            xs, ys = [], []
            for r in pk:
                f = r["fits"][scope]
                if f.get(name, {}).get("pred") is None:
                    continue
                xs += [c["eps_opt"] for c in f["test_cells"]]
                ys += f[name]["pred"]
            if xs:
                ax.plot(xs, ys, mk, color=col, alpha=0.75, label=LABEL[name])
                lo, hi = min(lo, min(xs), min(ys)), max(hi, max(xs), max(ys))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="prediction = measurement")
        ax.set_xlabel(f"measured ε* ({scope} cells)")
        ax.set_ylabel("predicted ε*")
        ax.legend(fontsize=7)
        ax.set_title("Held-out prediction of optimised ε*")
    return out


def embedding_eps(row: dict, out: Path) -> Path:
    """ε of random matrices against d (with 2/sqrt(d)) and MiniLM's; the cosine histograms beside it."""
    with figure(out, ncols=2, size=(12, 4.5)) as (_, axes):
        rp = [q for q in row["points"] if q["source"] == "random"]
        ds = np.array([q["d"] for q in rp], float)
        axes[0].plot(ds, [q["eps"] for q in rp], "o", label="random Gaussian, measured μ+2σ")
        dd = np.geomspace(ds.min(), ds.max(), 50)
        axes[0].plot(dd, 2 / np.sqrt(dd), "-", label="theory 2/sqrt(d)")
        for q in row["points"]:
            if q["source"] == "minilm":
                axes[0].plot([q["d"]], [q["eps"]], "*", ms=14, color="#d62728", label="all-MiniLM-L6-v2")
        axes[0].axhline(P.EPS_CLASS_THRESHOLD, color="k", ls=":", label="ε = 0.1 (capacity class boundary)")
        _log_ticks(axes[0], sorted({q["d"] for q in row["points"]}))
        axes[0].set_xlabel("d")
        axes[0].set_ylabel("ε = μ + 2σ of pairwise cosines")
        axes[0].legend(fontsize=7)
        h = row.get("histograms", {})
        for key, lab, col in (
            ("minilm", "all-MiniLM-L6-v2", "#d62728"),
            ("random_same_shape", "random, same shape", "#1f77b4"),
        ):
            if key in h:
                edges = np.array(h[key]["edges"])
                counts = np.array(h[key]["counts"], float)
                dens = counts / max(counts.sum(), 1) / np.diff(edges)
                axes[1].step(edges[:-1], dens, where="post", color=col, label=lab)
        pre = row.get("pretrained", {})
        if pre.get("available"):
            axes[1].axvline(pre["eps"], color="#d62728", ls="--", label=f"MiniLM ε = {pre['eps']:.3f}")
            axes[1].axvline(
                pre["random_same_shape"]["eps"],
                color="#1f77b4",
                ls="--",
                label=f"random ε = {pre['random_same_shape']['eps']:.3f}",
            )
        axes[1].set_xlim(-0.4, 0.6)
        axes[1].set_xlabel("cosine similarity of a pair of embedding rows")
        axes[1].set_ylabel("density")
        axes[1].legend(fontsize=7)
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    paths: list[Path] = []
    pk = sorted([r for r in rows if r.get("part") == "packing"], key=lambda r: r.get("seed", 0))
    if pk:
        paths.append(packing_fits(pk[0], out_dir / "rc_packing_fits.png"))
        paths.append(heldout_predictions(pk, out_dir / "rc_heldout_predictions.png"))
    emb = [r for r in rows if r.get("part") == "embeddings"]
    if emb:
        paths.append(embedding_eps(emb[0], out_dir / "rc_embedding_eps.png"))
    return paths


def tables(rows: list[dict]) -> str:
    return ""  # the claims table carries every number
