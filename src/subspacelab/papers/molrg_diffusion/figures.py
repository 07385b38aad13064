"""Success rate against N per d_k, the transition point against d_k, the denoisers' Jacobian rank against σ,
and the tables of success rates, score errors and ranks."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from subspacelab.papers.molrg_diffusion.aggregate import LABELS, STYLES, curves, n50, runs
from subspacelab.reporting.figures import figure


def success_vs_n(rows: list[dict], K: int, ds: list[int], out: Path) -> Path:
    """Success rate (Wilson 95% band) against N, one panel per d_k, one line per (model, metric)."""
    with figure(out, ncols=len(ds), size=(4.2 * len(ds), 4.0)) as (_, axes):
        axes = axes if isinstance(axes, list) else [axes]
        handles: dict[str, object] = {}
        for ax, d in zip(axes, ds, strict=True):
            for (model, metric), label in LABELS.items():
                c = curves(runs(rows, K=K, d=d), model, metric, K).get(d)
                if not c:
                    continue
                x = [p["x"] for p in c]
                color, ls, marker = STYLES[(model, metric)]
                (line,) = ax.plot(
                    x, [p["rate"] for p in c], color=color, ls=ls, marker=marker, ms=4, label=label
                )
                ax.fill_between(
                    x, [p["ci_low"] for p in c], [p["ci_high"] for p in c], color=color, alpha=0.07
                )
                handles.setdefault(label, line)
            handles.setdefault("N = d_k", ax.axvline(d, color="k", ls="--", lw=1))
            ax.set_xscale("log", base=2)
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel("training samples per subspace N")
            ax.set_ylabel("success rate (Wilson 95% band)")
            ax.set_title(f"K={K}, d_k={d}")
        # in the last panel's lower right, which the curves leave empty (they reach 1 at large N)
        axes[-1].legend(list(handles.values()), list(handles), loc="lower right", fontsize=6)
    return out


def transition_vs_d(rows: list[dict], K: int, ds: list[int], out: Path) -> Path:
    """N50 against d_k per (model, metric), with the line N = d_k."""
    with figure(out, size=(4.6, 3.8)) as (_, ax):
        for (model, metric), label in LABELS.items():
            cs = curves(rows, model, metric, K)
            pts = [(d, n50(c)) for d, c in cs.items() if n50(c) is not None]
            if pts:
                color, ls, marker = STYLES[(model, metric)]
                ax.plot(
                    [p[0] for p in pts], [p[1] for p in pts], color=color, ls=ls, marker=marker, label=label
                )
        grid = np.array([min(ds), max(ds)], dtype=float)
        ax.plot(grid, grid, "k--", lw=1, label="N = d_k")
        ax.set_xlabel("subspace dimension d_k")
        ax.set_ylabel("N50 (50% success)")
        ax.set_title(f"transition point vs d_k (K={K})")
        ax.legend(fontsize=7)
    return out


def jacobian_rank(jr: list[tuple[dict, dict]], out: Path) -> Path:
    """Median numerical rank of each denoiser's Jacobian against σ at the largest N."""
    with figure(out, size=(5, 3.8)) as (_, ax):
        for model in ("lowrank", "mlp"):
            for K, d in sorted({(int(r["K"]), int(r["d"])) for r, p in jr if f"{model}_jacobian_rank" in p}):
                vals: dict[float, list[float]] = {}
                for r, p in jr:
                    if int(r["K"]) == K and int(r["d"]) == d and f"{model}_jacobian_rank" in p:
                        for s, v in p[f"{model}_jacobian_rank"].items():
                            vals.setdefault(float(s), []).append(v)
                xs = sorted(vals)
                ax.plot(
                    xs,
                    [statistics.median(vals[s]) for s in xs],
                    marker="o",
                    label=f"{model}, K={K}, d_k={d} (K·d_k={K * d})",
                )
        ax.axhline(jr[0][0]["ambient"], color="gray", lw=0.8, label="ambient n")
        ax.set_xscale("log")
        ax.set_xlabel("noise level σ")
        ax.set_ylabel("numerical rank of ∂D/∂x")
        ax.set_title("denoiser Jacobian rank at the largest N")
        ax.legend(fontsize=6)
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    for K in sorted({int(r["K"]) for r in runs(rows)}):
        ds = sorted({int(r["d"]) for r in runs(rows, K=K)})
        if ds:
            written += [
                success_vs_n(rows, K, ds, out_dir / f"molrg_success_vs_N_K{K}.png"),
                transition_vs_d(rows, K, ds, out_dir / f"molrg_transition_vs_d_K{K}.png"),
            ]
    jr = [(r, max(r["points"], key=lambda p: p["N"])) for r in runs(rows)]
    jr = [(r, p) for r, p in jr if any(k.endswith("_jacobian_rank") for k in p)]
    if jr:
        written.append(jacobian_rank(jr, out_dir / "molrg_jacobian_rank.png"))
    return written


def tables(rows: list[dict]) -> str:
    lines = [
        "Success rate over seeds by N (samples per subspace); N50 = 50% crossing.",
        "",
        "| K | d_k | model | " + "N: rate | " + "N50 | N50/d_k |",
        "|---|---|---|---|---|---|",
    ]
    for K in sorted({int(r["K"]) for r in runs(rows)}):
        for (model, metric), label in LABELS.items():
            for d, c in curves(rows, model, metric, K).items():
                t = n50(c)
                cells = ", ".join(f"{p['x']:g}: {p['rate']:.2f}" for p in c)
                lines.append(
                    f"| {K} | {d} | {label} | {cells} | {'-' if t is None else f'{t:.2f}'} | "
                    f"{'-' if t is None else f'{t / d:.2f}'} |"
                )
    # relative score error against the closed form at the largest N: median over seeds
    errs: dict[tuple, dict[str, list[float]]] = {}
    for model in ("lowrank", "mlp"):
        for r in runs(rows, model=model):
            top = max(r["points"], key=lambda p: p["N"])
            for sig, v in (top.get(f"{model}_score_rel_mse") or {}).items():
                errs.setdefault((model, int(r["K"]), int(r["d"]), top["N"]), {}).setdefault(sig, []).append(v)
    if errs:
        sigmas = sorted({s for e in errs.values() for s in e}, key=float)
        lines += [
            "",
            "Relative score error ||ŝ − ∇log p||² / ||∇log p||² against the closed form at the "
            "largest N (median over seeds), and the Jacobian's numerical rank there:",
            "",
            "| model | K | d_k | N | " + " | ".join(f"σ={s}" for s in sigmas) + " | Jacobian rank by σ |",
            "|---|---|---|---|" + "---|" * len(sigmas) + "---|",
        ]
        for (model, K, d, N), e in sorted(errs.items()):
            ranks: dict[str, list[float]] = {}
            for r in runs(rows, K=K, d=d, model=model):
                top = max(r["points"], key=lambda p: p["N"])
                for sig, v in (top.get(f"{model}_jacobian_rank") or {}).items():
                    ranks.setdefault(sig, []).append(v)
            cells = " | ".join(f"{statistics.median(e[s]):.3g}" if s in e else "-" for s in sigmas)
            rk = ", ".join(f"{s}: {statistics.median(v):g}" for s, v in ranks.items())
            lines.append(f"| {model} | {K} | {d} | {N} | {cells} | {rk} |")
    return "\n".join(lines)
