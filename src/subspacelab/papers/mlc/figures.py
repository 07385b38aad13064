"""MLC report: rates, ranks and ACC per dataset, and the tables of scores, geometry, training and the η sweep."""

from __future__ import annotations

import statistics
from pathlib import Path

from subspacelab.papers.mlc.results import LABELS, PAPER_TABLE2, mean, method_means, runs_by_dataset
from subspacelab.reporting.figures import figure


def tables(rows: list[dict]) -> str:
    lines = []
    for ds, runs in sorted(runs_by_dataset(rows).items()):
        n_sub = runs[0]["experiment"]["n_baseline"] if "experiment" in runs[0] else "?"
        n_ro = runs[0]["experiment"]["n_readout"] if "experiment" in runs[0] else "?"
        acc, nmi, ari = (method_means(runs, k) for k in ("acc", "nmi", "ari"))
        lines += [
            "",
            f"### {ds}: {runs[0]['n_train']} training images, {len(runs)} seed(s) (mean ± sd)",
            "",
            "| method | images | ACC | NMI | ARI | paper CIFAR-10 ACC/NMI (Table 2) |",
            "|---|---|---|---|---|---|",
        ]
        order = [
            "mlc",
            "mlc_sub",
            "mlc_random_init",
            "mlc_random_init_sub",
            "kmeans_tcr",
            "kmeans_mlc",
            "ensc_tcr",
            "ensc_mlc",
            "ssc_omp_tcr",
            "ssc_omp_mlc",
        ]
        for m in order:
            if m not in acc:
                continue
            base = m.removesuffix("_sub")
            imgs = (
                n_sub
                if m.endswith("_sub") or m.startswith(("ensc", "ssc_omp"))
                else (n_ro if m.startswith("mlc") else runs[0]["n_train"])
            )
            paper = (
                "{} / {}".format(*PAPER_TABLE2[base])
                if base in PAPER_TABLE2 and (m == "mlc" or base != "mlc")
                else "-"
            )
            lines.append(
                f"| {LABELS.get(base, base)} | {imgs} | {acc[m][0]:.3f} ± {acc[m][1]:.3f} | "
                f"{nmi[m][0]:.3f} ± {nmi[m][1]:.3f} | {ari[m][0]:.3f} ± {ari[m][1]:.3f} | {paper} |"
            )
        lines += [
            "",
            "| features | per-class rank (mean) | overall rank | d | intra |cos| | inter |cos| |",
            "|---|---|---|---|---|---|",
        ]
        for t in ("tcr", "mlc"):
            g = [r["geometry"][t] for r in runs]
            lines.append(
                f"| Z_{t.upper()} | {mean(x['class_rank_mean'] for x in g):.1f} | "
                f"{mean(x['overall_rank'] for x in g):.1f} | {g[0]['dim']} | "
                f"{mean(x['intra_cos'] for x in g):.3f} | {mean(x['inter_cos'] for x in g):.3f} |"
            )
        lines += [
            "",
            "| MLC epoch | R (probe) | R_c (probe) | Γ row entropy | per-class rank | overall rank |",
            "|---|---|---|---|---|---|",
        ]
        for i, e in enumerate(runs[0]["mlc_log"]):
            lines.append(
                f"| {e['epoch']} | {mean(r['mlc_log'][i]['R'] for r in runs):.2f} | "
                f"{mean(r['mlc_log'][i]['Rc'] for r in runs):.2f} | "
                f"{mean(r['mlc_log'][i]['gamma_entropy'] for r in runs):.2f} | "
                f"{mean(r['mlc_log'][i]['class_rank_mean'] for r in runs):.1f} | "
                f"{mean(r['mlc_log'][i]['overall_rank'] for r in runs):.1f} |"
            )
        lines += ["", "| η (read-out) | Γ row entropy | ACC |", "|---|---|---|"]
        for i, e in enumerate(runs[0]["eta_sweep"]):
            lines.append(
                f"| {e['eta']:g} | {mean(r['eta_sweep'][i]['gamma_entropy'] for r in runs):.2f} | "
                f"{mean(r['eta_sweep'][i]['acc'] for r in runs):.3f} |"
            )
        secs = [r.get("seconds", 0) for r in runs]
        lines += [
            "",
            f"Run time {statistics.fmean(secs) / 60:.1f} min per run (TCR "
            f"{mean(r['tcr_seconds'] for r in runs) / 60:.1f}, MLC "
            f"{mean(r['mlc_seconds'] for r in runs) / 60:.1f}).",
        ]
    return "\n".join(lines).strip()


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    """One row per dataset: R and R_c per MLC epoch, the 95%-energy ranks, ACC per method.
    (|cos| matrices of Z_TCR and Z_MLC need the features, which runs do not store: not plotted.)"""
    by = runs_by_dataset(rows)
    if not by:
        return []
    path = Path(out_dir) / "mlc_training_and_acc.png"
    with figure(path, ncols=3, nrows=len(by), size=(13, 3.6 * len(by))) as (_, flat):
        axes = [flat[3 * i : 3 * i + 3] for i in range(len(by))]
        for ax, (ds, runs) in zip(axes, sorted(by.items()), strict=True):
            for r in runs:
                log = r["mlc_log"]
                ep = [e["epoch"] for e in log]
                s = r.get("seed", "")
                ax[0].plot(ep, [e["R"] for e in log], "b-", label=f"R (seed {s})")
                ax[0].plot(ep, [e["Rc"] for e in log], "r-", label=f"R_c (seed {s})")
                ax[1].plot(ep, [e["class_rank_mean"] for e in log], "g-", label=f"per-class mean (seed {s})")
                ax[1].plot(ep, [e["overall_rank"] for e in log], "k-", label=f"overall (seed {s})")
            ax[0].set(title=f"{ds}: rates on the probe batch", xlabel="MLC epoch")
            ax[1].set(
                title=f"{ds}: 95%-energy rank of Z (d = {runs[0]['geometry']['mlc']['dim']})",
                xlabel="MLC epoch",
            )
            means = method_means(runs)
            ms = [m for m in LABELS if m in means]
            ax[2].bar(range(len(ms)), [means[m][0] for m in ms], yerr=[means[m][1] for m in ms], capsize=2)
            ax[2].set_xticks(range(len(ms)))
            ax[2].set_xticklabels([LABELS[m] for m in ms], rotation=60, ha="right", fontsize=7)
            ax[2].set(ylim=(0, 1), title=f"{ds}: ACC")
            for a in ax[:2]:
                a.legend(fontsize=6)
    return [path]
