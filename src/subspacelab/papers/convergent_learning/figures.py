"""Per layer: matched, semi-matched and group similarity of trained pairs against the untrained control."""

from __future__ import annotations

import statistics
from pathlib import Path

from subspacelab.papers.convergent_learning.claims import analysis_rows, mean
from subspacelab.reporting.figures import figure

CURVES = [
    ("matched_r", False, "o-", "trained pairs: bipartite-matched r"),
    ("semi_matched_r", False, "s--", "trained pairs: semi-matched r"),
    ("group_similarity", False, "^-", "trained pairs: co-clustered groups (mean cos angle)"),
    ("matched_r", True, "o:", "control (trained vs untrained): matched r"),
    ("group_similarity", True, "^:", "control: groups"),
]


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    a = analysis_rows(rows)
    if not a:
        return []
    datasets = sorted({r["data"] for r in a})
    layers = list(dict.fromkeys(r["layer"] for r in a))
    out = Path(out_dir) / "convergent_learning_layers.png"
    x = list(range(len(layers)))
    with figure(out, ncols=len(datasets), size=(5.5 * len(datasets), 4)) as (_, axes):
        axes = axes if isinstance(axes, list) else [axes]
        for ax, data in zip(axes, datasets, strict=True):
            for key, control, style, label in CURVES:
                ax.plot(
                    x,
                    [mean(a, key, data=data, layer=layer, control=control) for layer in layers],
                    style,
                    label=label,
                )
            ax.set_xticks(x, layers)
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{data}: units vs subspaces across nets")
            ax.set_ylabel("correlation / mean cosine")
        axes[-1].legend(fontsize=7, loc="lower left")
    return [out]


def tables(rows: list[dict]) -> str:
    a = analysis_rows(rows)
    if not a:
        return ""
    lines = [
        "| data | layer | units | matched r | semi-matched r | > 0.9 | group similarity | control: matched r | "
        "control: group similarity |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for data in sorted({r["data"] for r in a}):
        for layer in dict.fromkeys(r["layer"] for r in a):
            t = [r for r in a if r["data"] == data and r["layer"] == layer and not r["control"]]
            c = [r for r in a if r["data"] == data and r["layer"] == layer and r["control"]]
            if not t:
                continue

            def m(rs, key):
                return statistics.fmean(r[key] for r in rs)

            lines.append(
                f"| {data} | {layer} | {t[0]['units']} | {m(t, 'matched_r'):.3f} | "
                f"{m(t, 'semi_matched_r'):.3f} | {m(t, 'frac_matched_above_0.9'):.0%} | "
                f"{m(t, 'group_similarity'):.3f} | {m(c, 'matched_r'):.3f} | {m(c, 'group_similarity'):.3f} |"
            )
    accs = [r for r in rows if r.get("test_acc") is not None]
    if accs:
        lines += [
            "",
            "Test accuracy of the trained nets: "
            + ", ".join(
                f"{r['data']} seed {r['seed']}: {r['test_acc']:.3f}"
                for r in sorted(accs, key=lambda r: (r["data"], r["seed"]))
            ),
        ]
    return "\n".join(lines)
