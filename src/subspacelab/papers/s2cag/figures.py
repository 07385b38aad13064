"""S2CAG report: ACC/NMI/ARI per method and dataset, CPU time against edges, and the measurement tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.papers.s2cag.results import DATASETS, LABELS, PAPER_DATASETS, is_run, quality_means
from subspacelab.reporting.figures import figure


def _pm(v: tuple, digits: int = 3) -> str:
    mean, sd, n = v
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def tables(rows: list[dict]) -> str:
    lines = []
    datasets = [d for d in DATASETS if any(is_run(r, "quality", d) for r in rows)]
    for ds in datasets:
        means = quality_means(rows, ds)
        g = next(r["graph"] for r in rows if is_run(r, "quality", ds))
        lines += [
            "",
            f"### {ds}: {g['n_nodes']} nodes, {g['n_edges']} edges, {g['n_features']} attributes, "
            f"{g['n_classes']} classes (mean ± sd over seeds)",
            "",
            "| method | ACC | NMI | ARI | seconds | peak MiB | paper ACC/NMI/ARI |",
            "|---|---|---|---|---|---|---|",
        ]
        order = [m for m in LABELS if m in means] + sorted(m for m in means if m not in LABELS)
        for m in order:
            v = means[m]
            paper = "not retrieved" if m in ("s2cag", "m_s2cag") and ds in PAPER_DATASETS else "-"
            if "refused" in v:
                lines.append(f"| {LABELS.get(m, m)} | refused | | | | | {paper} |")
                continue
            lines.append(
                f"| {LABELS.get(m, m)} | {_pm(v['acc'])} | {_pm(v['nmi'])} | {_pm(v['ari'])} | "
                f"{_pm(v['seconds'], 2)} | {v['peak_mib'][0]:.0f} | {paper} |"
            )
    pts = [p for r in rows if is_run(r, "scaling") for p in r.get("points", [])]
    if pts:
        lines += [
            "",
            "### Scaling on contextual SBMs (per seed)",
            "",
            "| nodes | edges | method | CPU s | wall s | peak MiB | ACC | status |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for p in sorted(pts, key=lambda p: (p["n_nodes"], p["method"])):
            if p["status"] == "ok":
                lines.append(
                    f"| {p['n_nodes']} | {p['n_edges']} | {LABELS.get(p['method'], p['method'])} | "
                    f"{p['cpu_seconds']:.2f} | {p['seconds']:.2f} | {p['peak_mib']:.0f} | {p['acc']:.3f} | ok |"
                )
            else:
                lines.append(
                    f"| {p['n_nodes']} | {p['n_edges']} | {LABELS.get(p['method'], p['method'])} | | | | | "
                    f"{p['message'].replace('|', '/')} |"
                )
    return "\n".join(lines).strip()


def quality_plot(rows: list[dict], datasets: list[str], out: Path) -> Path:
    with figure(out, ncols=len(datasets), size=(4.2 * len(datasets), 3.8)) as (_, axes):
        for ax, ds in zip(axes if len(datasets) > 1 else [axes], datasets, strict=True):
            means = quality_means(rows, ds)
            ms = [m for m in LABELS if m in means and "refused" not in means[m]]
            x = np.arange(len(ms))
            for i, k in enumerate(("acc", "nmi", "ari")):
                ax.bar(
                    x + (i - 1) * 0.27,
                    [means[m][k][0] for m in ms],
                    0.27,
                    yerr=[means[m][k][1] for m in ms],
                    label=k.upper(),
                    capsize=2,
                )
            ax.set_xticks(x)
            ax.set_xticklabels([LABELS[m] for m in ms], rotation=60, ha="right", fontsize=7)
            ax.set_ylim(0, 1)
            ax.set_title(ds)
            ax.legend(fontsize=7)
    return out


def scaling_plot(pts: list[dict], out: Path) -> Path:
    with figure(out, size=(6.4, 4.4)) as (_, ax):
        for m in dict.fromkeys(p["method"] for p in pts):
            ok = sorted(
                (p for p in pts if p["method"] == m and p["status"] == "ok"), key=lambda p: p["n_edges"]
            )
            ref = sorted({p["n_edges"] for p in pts if p["method"] == m and p["status"] == "refused"})
            line = (
                ax.plot(
                    [p["n_edges"] for p in ok],
                    [max(p["cpu_seconds"], 1e-3) for p in ok],
                    marker="o",
                    label=LABELS.get(m, m),
                )[0]
                if ok
                else None
            )
            if ref:
                top = max((p["cpu_seconds"] for p in ok), default=1.0)
                ax.scatter(
                    ref,
                    [top] * len(ref),
                    marker="x",
                    s=60,
                    color=line.get_color() if line else "k",
                    label=f"{LABELS.get(m, m)}: refused (memory budget)",
                )
        s2 = sorted(
            (p for p in pts if p["method"] == "s2cag" and p["status"] == "ok"), key=lambda p: p["n_edges"]
        )
        if s2:
            e = np.array([p["n_edges"] for p in s2], float)
            ax.plot(e, s2[-1]["cpu_seconds"] * e / e[-1], "k--", lw=0.8, label="slope 1 (linear)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("edges")
        ax.set_ylabel("CPU seconds")
        ax.set_title("contextual SBM, average degree fixed")
        ax.legend(fontsize=7)
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    datasets = [d for d in DATASETS if any(is_run(r, "quality", d) for r in rows)]
    if datasets:
        written.append(quality_plot(rows, datasets, out_dir / "s2cag_quality.png"))
    pts = [p for r in rows if is_run(r, "scaling") for p in r.get("points", [])]
    if pts:
        written.append(scaling_plot(pts, out_dir / "s2cag_scaling.png"))
    return written
