"""HF-DSC report: ACC per method and dataset, the oracle ACC curve with the self-stop, and the score tables."""

from __future__ import annotations

from pathlib import Path

from subspacelab.papers.hf_dsc.results import (
    LABELS,
    datasets_run,
    dscnet_value,
    hf_value,
    linear_table,
    oracle_value,
    runs_of,
)
from subspacelab.reporting.figures import figure


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def tables(rows: list[dict]) -> str:
    lines = []
    for ds in datasets_run(rows):
        summary = next((r["data"] for r in rows if (r.get("experiment") or {}).get("dataset") == ds), {})
        lines += [
            "",
            f"### {ds}: {summary.get('n_points')} images, {summary.get('n_classes')} classes "
            f"(ACC / NMI / ARI, mean over seeds)",
            "",
            "| method | tuned with labels? | ACC | NMI | ARI | notes |",
            "|---|---|---|---|---|---|",
        ]
        for layers in ("all", "last"):
            if hf_value(rows, ds, layers=layers) is None:
                continue
            name = "HF-DSC (self-stopped)" if layers == "all" else "HF-DSC, C on the last layer only"
            rs = runs_of(rows, "hf_dsc", ds, layers)
            stops = ", ".join("/".join(str(s["steps"]) for s in r["stages"]) for r in rs)
            lines.append(
                f"| {name} | no | {_f(hf_value(rows, ds, layers=layers))} | "
                f"{_f(hf_value(rows, ds, layers=layers, key='nmi'))} | "
                f"{_f(hf_value(rows, ds, layers=layers, key='ari'))} | stage steps {stops} |"
            )
        if hf_value(rows, ds) is not None:
            rs = runs_of(rows, "hf_dsc", ds, "all")
            for ro in [k for k in rs[0]["readouts"] if k != "self_stopped"]:
                lines.append(
                    f"| HF-DSC read-out: {ro} | no | {_f(hf_value(rows, ds, ro))} | "
                    f"{_f(hf_value(rows, ds, ro, key='nmi'))} | {_f(hf_value(rows, ds, ro, key='ari'))} | "
                    f"ablation |"
                )
            lines.append(
                f"| HF-DSC oracle stop | yes (stop) | {_f(oracle_value(rows, ds))} | "
                f"{_f(oracle_value(rows, ds, 'nmi'))} | {_f(oracle_value(rows, ds, 'ari'))} | "
                f"best point of the curve |"
            )
        if dscnet_value(rows, ds) is not None:
            lines.append(
                f"| DSC-Net | yes (its paper) | {_f(dscnet_value(rows, ds))} | "
                f"{_f(dscnet_value(rows, ds, 'nmi'))} | {_f(dscnet_value(rows, ds, 'ari'))} | "
                f"authors' per-dataset settings |"
            )
        for m, v in linear_table(rows, ds).items():
            t, d0 = v["tuned"], v["default"]
            tuned = "no" if m == "kmeans" else "yes (grid)"
            lines.append(
                f"| {LABELS.get(m, m)} | {tuned} | {_f(t['acc'])} | {_f(t['nmi'])} | {_f(t['ari'])} | "
                f"best {v['best_hp']} ({v['best_readout']} read-out); untuned first point ACC "
                f"{_f(d0['acc'])} |"
            )
    return "\n".join(lines).strip()


def accuracy_plot(rows: list[dict], dss: list[str], out: Path) -> Path:
    with figure(out, ncols=len(dss), size=(4.2 * len(dss), 3.8)) as (_, axes):
        for ax, ds in zip(axes if len(dss) > 1 else [axes], dss, strict=True):
            bars = {
                "HF-DSC": hf_value(rows, ds),
                "HF-DSC last layer": hf_value(rows, ds, layers="last"),
                "DSC-Net": dscnet_value(rows, ds),
            }
            bars.update(
                {f"{LABELS[m]} (tuned)": v["tuned"]["acc"] for m, v in linear_table(rows, ds).items()}
            )
            bars = {k: v for k, v in bars.items() if v is not None}
            colours = [
                "tab:red" if k.startswith("HF-DSC") else "tab:grey" if "tuned" in k else "tab:blue"
                for k in bars
            ]
            ax.bar(range(len(bars)), list(bars.values()), color=colours)
            ax.set_xticks(range(len(bars)))
            ax.set_xticklabels(list(bars), rotation=60, ha="right", fontsize=7)
            ax.set_ylim(0, 1)
            ax.set_ylabel("ACC")
            ax.set_title(ds)
    return out


def stopping_plot(rows: list[dict], dss: list[str], out: Path) -> Path:
    with figure(out, ncols=len(dss), size=(4.2 * len(dss), 3.4)) as (_, axes):
        for ax, ds in zip(axes if len(dss) > 1 else [axes], dss, strict=True):
            for r in runs_of(rows, "hf_dsc", ds, "all"):
                xs = [c["global_step"] for c in r["curve"]]
                ax.plot(xs, [c["acc"] for c in r["curve"]], marker=".", label=f"seed {r.get('seed', '?')}")
                ax.axvline(sum(s["steps"] for s in r["stages"]), color="k", lw=0.8, ls="--")
                ax.axvline(sum(s["steps"] for s in r["stages"][:2]), color="grey", lw=0.8, ls=":")
            ax.set_xlabel("step (pre-training + stages 2, 3); dotted: stage 2 stops, dashed: self-stop")
            ax.set_ylabel("ACC (oracle curve)")
            ax.set_title(ds)
            ax.xaxis.label.set_size(7)
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    dss = [ds for ds in datasets_run(rows) if hf_value(rows, ds) is not None]
    if not dss:
        return []
    return [
        accuracy_plot(rows, dss, out_dir / "hf_dsc_accuracy.png"),
        stopping_plot(rows, dss, out_dir / "hf_dsc_stopping.png"),
    ]
