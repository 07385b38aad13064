"""plato_cave's plots and tables: retrieval against the subspace dimension k and against the anchor count (seed
mean ± sd), every arm's scores at the default k, and what the canonical subspace and its complement hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.papers.plato_cave.claims import per_seed
from subspacelab.papers.plato_cave.experiment import ARMS, REDUCED
from subspacelab.reporting.figures import figure

LABEL = {
    "none": "no transformation",
    "affine": "affine (full space)",
    "cca_affine": "CCA-k + affine",
    "cca_cosine": "CCA-k, cosine (ours)",
    "pca_affine": "PCA-k + affine (control)",
    "local_cka": "local CKA (full space)",
    "cca_local_cka": "CCA-k + local CKA",
}


def _sweep(rows: list[dict], key: str, arm: str, **match) -> list:
    return sorted(
        {
            r[key]
            for row in rows
            for r in row.get("results", [])
            if r["arm"] == arm and all(r.get(k) == v for k, v in match.items())
        }
    )


def _anchors(rows: list[dict]) -> int | None:
    counts = _sweep(rows, "anchors", "affine")
    return counts[0] if counts else None


def _stats(rows, name, metric, anchors=None) -> tuple[float, float]:
    v = list(per_seed(rows, name, metric, anchors).values())
    return (float(np.mean(v)), float(np.std(v))) if v else (float("nan"), float("nan"))


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    ks = _sweep(rows, "k", "cca_affine", anchors=_anchors(rows))
    if not ks:
        return []
    out = []
    path = out_dir / "top5_by_k.png"
    with figure(path) as (_, ax):
        for arm in REDUCED:
            m = [_stats(rows, f"{arm}@{k}", "top5") for k in ks]
            ax.errorbar(
                ks, [a for a, _ in m], yerr=[b for _, b in m], marker="o", capsize=3, label=LABEL[arm]
            )
        for arm, style in (("affine", "--"), ("local_cka", ":"), ("none", "-.")):
            ax.axhline(_stats(rows, arm, "top5")[0], ls=style, color="grey", label=LABEL[arm])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("subspace dimension k")
        ax.set_ylabel("top-5 retrieval, shape from caption")
        ax.legend(fontsize=7)
    out.append(path)
    default_k = _default_k(rows)
    counts = _sweep(rows, "anchors", "cca_affine", k=default_k)
    if len(counts) > 1:
        path = out_dir / "top5_by_anchors.png"
        with figure(path) as (_, ax):
            for metric in ("top1", "top5", "matching"):
                m = [_stats(rows, f"cca_affine@{default_k}", metric, n) for n in counts]
                ax.errorbar(
                    counts, [a for a, _ in m], yerr=[b for _, b in m], marker="o", capsize=3, label=metric
                )
            ax.set_xscale("log")
            ax.set_xlabel("anchor pairs")
            ax.set_ylabel(f"CCA-{default_k} + affine")
            ax.legend(fontsize=7)
        out.append(path)
    return out


def _default_k(rows: list[dict]) -> int | None:
    """The k at which the anchor sweep ran (the run's default k)."""
    counts = {}
    for row in rows:
        for r in row.get("results", []):
            if r["arm"] == "cca_affine":
                counts.setdefault(r["k"], set()).add(r["anchors"])
    return max(counts, key=lambda k: len(counts[k])) if counts else None


def tables(rows: list[dict]) -> str:
    k = _default_k(rows)
    if k is None:
        return ""
    n = len({int(r.get("seed", 0)) for r in rows})
    lines = [
        f"Every arm at k = {k}, {_anchors(rows)} anchors, seed mean ± sd over {n} seeds (chance: 1/queries for matching and top-1, 5/queries for top-5):",
        "",
        "| arm | matching | top-1 | top-5 |",
        "|---|---|---|---|",
    ]
    for arm in ARMS:
        name = f"{arm}@{k}" if arm in REDUCED else arm
        cells = [_stats(rows, name, m) for m in ("matching", "top1", "top5")]
        lines.append(f"| {LABEL[arm]} | " + " | ".join(f"{a:.3f} ± {b:.3f}" for a, b in cells) + " |")
    probes = [r["probes"] for r in rows if r.get("probes")]
    if probes:
        lines += [
            "",
            "What the shape features' canonical subspace and its complement hold (test objects, seed mean):",
            "",
            "| part | dims | class accuracy (logistic probe) | scale R² (ridge probe) |",
            "|---|---|---|---|",
        ]
        for part in ("subspace", "complement"):
            acc = np.mean([p[part]["class_accuracy"] for p in probes])
            r2 = np.mean([p[part]["scale_r2"] for p in probes])
            lines.append(f"| {part} | {probes[0][part]['dim']} | {acc:.3f} | {r2:.3f} |")
    cka = [r["raw_cka"] for r in rows if r.get("raw_cka") is not None]
    sub = [r["subspace_cka"] for r in rows if r.get("subspace_cka") is not None]
    pre = [r["pretext"] for r in rows if r.get("pretext")]
    if cka and pre:
        lines += [
            "",
            f"Linear CKA of the test features: raw spaces {np.mean(cka):.3f}, CCA-{k} projections {np.mean(sub):.3f}. "
            f"Pretext accuracy on held-out objects: rotation {np.mean([p['rotation_accuracy'] for p in pre]):.3f} "
            f"(chance 0.25), masked word {np.mean([p['masked_word_accuracy'] for p in pre]):.3f}.",
        ]
    return "\n".join(lines)
