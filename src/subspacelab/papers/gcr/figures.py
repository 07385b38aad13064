"""The GCR report's table (accuracy, transfer and variability per dataset, head and k) and figure."""

from __future__ import annotations

import statistics
from pathlib import Path

from subspacelab.papers.gcr.common import DATA_LABELS, HEADS, LABELS, analysis_rows, tagged
from subspacelab.reporting.figures import figure

COLORS = {"softmax": "tab:blue", "cosine": "tab:orange", "gcr": "tab:red"}


def _rows_by_variant(rows: list[dict]) -> dict[tuple[str, str, int | None], dict]:
    runs, analysis = tagged(rows, analysis=False), {r["run_name"]: r for r in analysis_rows(rows)}
    out: dict[tuple, dict] = {}
    for r in runs:
        v = out.setdefault((r["data"], r["_head"], r["_k"]), {"acc": [], "transfer": [], "variability": []})
        v["acc"].append(r["test_acc"])
        if r["run_name"] in analysis:
            v["transfer"].append(analysis[r["run_name"]]["transfer_acc"])
            v["variability"].append(analysis[r["run_name"]]["variability"])
    return out


def _ms(xs: list[float], pct: bool = True) -> str:
    if not xs:
        return "-"
    f = (lambda x: f"{100 * x:.2f}") if pct else (lambda x: f"{x:.3f}")
    return f(statistics.fmean(xs)) + (f" ± {f(statistics.stdev(xs))}" if len(xs) > 1 else "")


def _order(key: tuple) -> tuple:
    data, head, k = key
    return data, HEADS.index(head), k or 0


def tables(rows: list[dict]) -> str:
    variants = _rows_by_variant(rows)
    if not variants:
        return ""
    lines = [
        "| dataset | head | k | seeds | source test acc (%) | transfer acc (%) | intra-class variability |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(variants, key=_order):
        data, head, k = key
        v = variants[key]
        lines.append(
            f"| {DATA_LABELS.get(data, data)} | {LABELS[head]} | {k or '-'} | {len(v['acc'])} | "
            f"{_ms(v['acc'])} | {_ms(v['transfer'])} | {_ms(v['variability'], pct=False)} |"
        )
    return "\n".join(lines)


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    variants = _rows_by_variant(rows)
    data_sets = sorted({d for d, _, _ in variants})
    if not data_sets:
        return []
    out = Path(out_dir) / "gcr.png"
    with figure(out, ncols=2, nrows=len(data_sets), size=(11, 3.6 * len(data_sets))) as (_, axes):
        axes = axes if isinstance(axes, list) else [axes]
        for row, data in enumerate(data_sets):
            ax, bx = axes[2 * row], axes[2 * row + 1]
            keys = [k for k in sorted(variants, key=_order) if k[0] == data]
            names = [LABELS[h] + (f" k={k}" if k else "") for _, h, k in keys]
            for i, key in enumerate(keys):
                v = variants[key]
                for j, (metric, hatch) in enumerate((("acc", None), ("transfer", "//"))):
                    if v[metric]:
                        ax.bar(
                            i + 0.4 * j - 0.2,
                            100 * statistics.fmean(v[metric]),
                            0.4,
                            color=COLORS[key[1]],
                            hatch=hatch,
                            alpha=0.85,
                            label=("source test" if j == 0 else "transfer") if i == 0 else None,
                        )
                        ax.plot(
                            [i + 0.4 * j - 0.2] * len(v[metric]), [100 * x for x in v[metric]], "k.", ms=4
                        )
            ax.set_xticks(range(len(keys)), names, rotation=30, ha="right", fontsize=8)
            lo = min(100 * x for key in keys for m in ("acc", "transfer") for x in variants[key][m] or [1.0])
            ax.set_ylim(max(0.0, lo - 5), 100)
            ax.set_ylabel("accuracy (%)")
            ax.set_title(f"{DATA_LABELS.get(data, data)}: source (solid) and linear transfer (hatched)")
            gcr = sorted(
                (k, statistics.fmean(v["variability"]))
                for (d, h, k), v in variants.items()
                if d == data and h == "gcr" and v["variability"]
            )
            if gcr:
                bx.plot(*zip(*gcr, strict=True), "o-", color=COLORS["gcr"], label="GCR")
                bx.set_xscale("log", base=2)
                bx.set_xticks([k for k, _ in gcr], [str(k) for k, _ in gcr])
            for head in ("softmax", "cosine"):
                v = variants.get((data, head, None))
                if v and v["variability"]:
                    bx.axhline(
                        statistics.fmean(v["variability"]), color=COLORS[head], ls="--", label=LABELS[head]
                    )
            bx.set_xlabel("subspace dimension k")
            bx.set_ylabel("intra-class variability (1 - R²)")
            bx.set_title(f"{DATA_LABELS.get(data, data)}: feature variability")
            bx.legend(fontsize=8)
    return [out]
