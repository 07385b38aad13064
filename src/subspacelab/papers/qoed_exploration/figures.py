"""qoed_exploration's plots and tables: error over steps per method, final errors paired by seed, which parameters
the selection keeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.numerics.diff_drive import PARAMS
from subspacelab.papers.qoed_exploration.claims import method_rows
from subspacelab.papers.qoed_exploration.experiment import LABEL, METHODS
from subspacelab.reporting.figures import figure
from subspacelab.reporting.stats import t_interval

COLOR = {"random": "#7f7f7f", "boed": "#1f77b4", "qoed_agnostic": "#ff7f0e", "qoed": "#2ca02c"}


def _present(rows: list[dict]) -> list[str]:
    return [m for m in METHODS if method_rows(rows, m)]


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    methods = _present(rows)
    if not methods:
        return []
    out = out_dir / "qoed_error_curves.png"
    with figure(out, ncols=2, size=(11, 4.2)) as (_, axes):
        for m in methods:
            curves = [np.array(r["error_curve"]) for r in method_rows(rows, m).values()]
            length = min(len(c) for c in curves)
            stack = np.stack([c[:length] for c in curves])
            steps = stack[0, :, 0]
            axes[0].plot(steps, np.median(stack[:, :, 1], axis=0), color=COLOR[m], label=LABEL[m])
            axes[0].fill_between(
                steps,
                np.quantile(stack[:, :, 1], 0.25, axis=0),
                np.quantile(stack[:, :, 1], 0.75, axis=0),
                color=COLOR[m],
                alpha=0.15,
            )
        axes[0].set_yscale("log")
        axes[0].set_xlabel("control step")
        axes[0].set_ylabel("identifiable-combination error (prior sds)")
        axes[0].set_title("median and quartiles over seeds")
        axes[0].legend()
        for i, m in enumerate(methods):
            vals = [r["identifiable_error"] for r in method_rows(rows, m).values()]
            axes[1].scatter(
                np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)), vals, color=COLOR[m], s=12
            )
            axes[1].plot([i - 0.25, i + 0.25], [np.mean(vals)] * 2, color="k", lw=2)
        seeds = sorted(set.intersection(*(set(method_rows(rows, m)) for m in methods)))
        for s in seeds:
            axes[1].plot(
                range(len(methods)),
                [method_rows(rows, m)[s]["identifiable_error"] for m in methods],
                color="k",
                alpha=0.08,
                lw=0.8,
            )
        axes[1].set_xticks(range(len(methods)), [LABEL[m] for m in methods], rotation=15)
        axes[1].set_yscale("log")
        axes[1].set_ylabel("final identifiable-combination error")
        axes[1].set_title("each seed (lines pair the same robot)")
    return [out]


def tables(rows: list[dict]) -> str:
    methods = _present(rows)
    if not methods:
        return ""
    metrics = (
        ("identifiable_error", "identifiable error", ".4f"),
        ("param_rel_rmse", "raw-parameter RMSE (prior sds)", ".3f"),
        ("prediction_rmse", "held-out prediction RMSE", ".2e"),
        ("mean_selected", "|K| (mean)", ".2f"),
        ("executed_fisher_trace", "tr F of executed data", ".3g"),
    )
    lines = [
        "Per method, mean and 95% t-interval over seeds:",
        "",
        "| method | n | " + " | ".join(h for _, h, _ in metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for m in methods:
        runs = list(method_rows(rows, m).values())
        cells = []
        for key, _, fmt in metrics:
            iv = t_interval([r[key] for r in runs])
            cells.append(f"{iv.mean:{fmt}} [{iv.lo:{fmt}}, {iv.hi:{fmt}}]")
        lines.append(f"| {LABEL[m]} | {len(runs)} | " + " | ".join(cells) + " |")
    sel = [m for m in methods if m in ("qoed_agnostic", "qoed")]
    if sel:
        lines += [
            "",
            "Share of steps (after warm-up) on which each parameter is in the identifiable set K:",
            "",
            "| method | " + " | ".join(PARAMS) + " |",
            "|---|" + "---|" * len(PARAMS),
        ]
        for m in sel:
            runs = list(method_rows(rows, m).values())
            share = [np.mean([r["selected_share"][p] for r in runs]) for p in PARAMS]
            lines.append(f"| {LABEL[m]} | " + " | ".join(f"{v:.2f}" for v in share) + " |")
    return "\n".join(lines)
