"""g_theory's plots and tables: the CM convergence curves, EM against CM-EM, calibration under prior shift."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.papers.g_theory.claims import mixture_rows, part_rows, shift_rows
from subspacelab.papers.g_theory.experiment import ARMS, LABEL
from subspacelab.reporting.figures import figure


def _ratios(rows: list[dict]) -> list[float]:
    return sorted({float(r["ratio"]) for r in part_rows(rows, "mixture")})


def _datasets(rows: list[dict]) -> list[str]:
    return sorted({r["dataset"] for r in part_rows(rows, "prior_shift")})


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    paths = []
    mmi = part_rows(rows, "mmi")
    if mmi:
        out = out_dir / "g_theory_cm_convergence.png"
        with figure(out, size=(6.5, 4.2)) as (_, ax):
            for r in mmi:
                for trace in r["mi_fraction"]:
                    ax.plot(range(len(trace)), trace, color="#1f77b4", alpha=0.12, lw=0.8)
            frac = np.concatenate([np.array(r["mi_fraction"]) for r in mmi])
            ax.plot(
                range(frac.shape[1]), np.median(frac, axis=0), color="k", lw=2, label="median over starts"
            )
            ax.axhline(0.99, color="#d62728", ls="--", lw=1, label="99% of MMI (paper: after 2-3 iterations)")
            ax.set_xlabel("CM iteration (0 = initial partition)")
            ax.set_ylabel("I(X;Y) / MMI")
            ax.set_ylim(max(0.0, float(frac.min()) - 0.05), 1.01)
            ax.legend(loc="lower right")
        paths.append(out)
    ratios = _ratios(rows)
    if ratios:
        out = out_dir / "g_theory_em_vs_cmem.png"
        with figure(out, ncols=2, size=(10, 4)) as (_, axes):
            width = 0.38
            for j, m in enumerate(("em", "cm_em")):
                its = [np.mean([r[f"{m}_median_iterations"] for r in mixture_rows(rows, q)]) for q in ratios]
                es = [np.mean([r[f"{m}_median_e_steps"] for r in mixture_rows(rows, q)]) for q in ratios]
                kl = [np.mean([r[f"{m}_mean_final_kl"] for r in mixture_rows(rows, q)]) for q in ratios]
                x = np.arange(len(ratios)) + (j - 0.5) * width
                axes[0].bar(x, its, width, label=f"{LABEL[m]} iterations")
                axes[0].plot(x, es, "k_", ms=14, mew=2, label="E-steps" if j else None)
                axes[1].bar(x, np.maximum(kl, 1e-12), width, label=LABEL[m])
            for ax in axes:
                ax.set_xticks(range(len(ratios)))
                ax.set_xticklabels([f"{q:g}/{1 - q:.2g}" for q in ratios])
                ax.set_xlabel("mixture ratios")
                ax.set_yscale("log")
                ax.legend()
            axes[0].set_ylabel("median iterations to the stopping rule")
            axes[1].set_ylabel("mean final KL(P‖Q), bits")
        paths.append(out)
    datasets = _datasets(rows)
    if datasets:
        out = out_dir / "g_theory_prior_shift.png"
        with figure(out, ncols=2, size=(10, 4)) as (_, axes):
            width = 0.8 / len(ARMS)
            for j, a in enumerate(ARMS):
                x = np.arange(len(datasets)) - 0.4 + (j + 0.5) * width
                for ax, key in zip(axes, ("log_loss", "ece"), strict=True):
                    vals = [[r[f"{a}_{key}"] for r in shift_rows(rows, d)] for d in datasets]
                    ax.bar(
                        x, [np.mean(v) for v in vals], width, yerr=[np.std(v) for v in vals], label=LABEL[a]
                    )
            for ax, name in zip(axes, ("log-loss (nats)", "top-label ECE"), strict=True):
                ax.set_xticks(range(len(datasets)))
                ax.set_xticklabels(datasets)
                ax.set_ylabel(f"{name} under shifted priors")
            axes[1].axhline(0.1, color="#d62728", ls="--", lw=1)
            axes[0].legend(fontsize=7)
        paths.append(out)
    return paths


def tables(rows: list[dict]) -> str:
    """Every arm's numbers beside the method's: the mixture study and the prior-shift study."""
    lines = []
    ratios = _ratios(rows)
    if ratios:
        lines += [
            "| ratios | EM iterations | CM-EM iterations | EM E-steps | CM-EM E-steps | EM final KL (bits) | CM-EM final KL (bits) | EM reached 1e-4 | CM-EM reached 1e-4 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for q in ratios:
            rs = mixture_rows(rows, q)

            def m(k, rs=rs):
                return float(np.mean([r[k] for r in rs]))

            lines.append(
                f"| {q:g}/{1 - q:.2g} | {m('em_median_iterations'):.0f} | {m('cm_em_median_iterations'):.0f} | "
                f"{m('em_median_e_steps'):.0f} | {m('cm_em_median_e_steps'):.0f} | {m('em_mean_final_kl'):.2e} | "
                f"{m('cm_em_mean_final_kl'):.2e} | {m('em_frac_reached_target'):.0%} | "
                f"{m('cm_em_frac_reached_target'):.0%} |"
            )
        lines.append("")
    datasets = _datasets(rows)
    if datasets:
        lines += [
            "| dataset | arm | log-loss | ECE | Brier | accuracy | log-loss, unshifted test |",
            "|---|---|---|---|---|---|---|",
        ]
        for d in datasets:
            rs = shift_rows(rows, d)
            for a in ARMS:
                vals = [
                    float(np.mean([r[f"{a}_{k}"] for r in rs]))
                    for k in ("log_loss", "ece", "brier", "accuracy")
                ]
                un = float(np.mean([r["unshifted"][a]["log_loss"] for r in rs]))
                lines.append(
                    f"| {d} | {LABEL[a]} | {vals[0]:.3f} | {vals[1]:.3f} | {vals[2]:.3f} | {vals[3]:.3f} | {un:.3f} |"
                )
    return "\n".join(lines)
