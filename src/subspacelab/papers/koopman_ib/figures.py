"""koopman_ib's plots and tables: rollout error by horizon per system and objective, and the effective rank and
spectral radius of every objective (seed means)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.papers.koopman_ib.claims import metric_of, runs_of, systems_in
from subspacelab.papers.koopman_ib.experiment import OBJECTIVES
from subspacelab.reporting.figures import figure

LABEL = {
    "kae": "plain KAE",
    "kae_mi": "KAE + MI",
    "kae_mi_entropy": "KAE + MI − γS (the paper's sign)",
    "kae_mi_entropy_code": "KAE + MI + γS (the code's sign)",
}


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    out = []
    for system in systems_in(rows):
        path = out_dir / f"rollout_error_{system}.png"
        with figure(path) as (_, ax):
            for objective in OBJECTIVES:
                runs = list(runs_of(rows, system, objective).values())
                if not runs:
                    continue
                horizons = sorted(int(h) for h in runs[0]["rollout_error"])
                mean = [np.mean([r["rollout_error"][str(h)] for r in runs]) for h in horizons]
                ax.plot(horizons, mean, marker="o", label=LABEL[objective])
            ax.set_xlabel("rollout horizon (steps)")
            ax.set_ylabel("relative L2 error")
            ax.set_title(system)
            ax.legend(fontsize=7)
        out.append(path)
    return out


def tables(rows: list[dict]) -> str:
    systems = systems_in(rows)
    if not systems:
        return ""
    lines = [
        "Seed means: effective rank of the test latents, 50-step rollout error, spectral radius of the pooled and "
        "of the window-mean operator",
        "",
        "| system | objective | seeds | effective rank | rollout error @50 | radius (pooled) | radius (window mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for system in systems:
        for objective in OBJECTIVES:
            runs = list(runs_of(rows, system, objective).values())
            if not runs:
                continue

            def mean(metric, runs=runs):
                values = [metric_of(r, metric) for r in runs]
                values = [v for v in values if v is not None]
                return f"{np.mean(values):.3f}" if values else "-"

            lines.append(
                f"| {system} | {LABEL[objective]} | {len(runs)} | {mean('effective_rank')} | "
                f"{mean('rollout_error.50')} | {mean('spectrum.max_modulus')} | {mean('window_mean_spectrum.max_modulus')} |"
            )
    return "\n".join(lines)
