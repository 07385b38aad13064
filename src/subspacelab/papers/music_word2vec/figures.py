"""music_word2vec's plots and table: triad distance against fifths distance, the key-relation matrix, and the
in-key share of substitutes against the neighbourhood size n, each with its controls."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subspacelab.papers.music_word2vec.claims import arm
from subspacelab.papers.music_word2vec.experiment import ORDERS
from subspacelab.reporting.figures import figure

KEYS = ("C", "G", "D", "A", "E", "B", "F#", "Db", "Ab", "Eb", "Bb", "F")  # circle-of-fifths order
FIFTHS_ORDER = [(7 * i) % 12 for i in range(12)]


def _curve(runs: list[dict], key: str) -> tuple[list[int], np.ndarray] | None:
    dicts = [r[key] for r in runs if isinstance(r.get(key), dict)]
    if not dicts:
        return None
    steps = sorted({int(s) for d in dicts for s in d})
    return steps, np.array([[d.get(str(s), d.get(s, np.nan)) for s in steps] for d in dicts], float)


def _triads(rows: list[dict], out: Path) -> Path | None:
    series = [
        (f"trained, {o.replace('_', ' ')}", _curve(arm(rows, o), "triad_distance_by_fifths")) for o in ORDERS
    ]
    series = [(label, c) for label, c in series if c is not None]
    if not series:
        return None
    with figure(out) as (_, ax):
        for label, (steps, y) in series:
            ax.errorbar(
                steps, y.mean(0), yerr=y.std(0) if len(y) > 1 else None, marker="o", capsize=3, label=label
            )
        ax.set_xlabel("circle-of-fifths distance between the major triads' roots")
        ax.set_ylabel("cosine distance of the triad vectors")
        ax.set_title("Major triads (mean over seeds, bars: sd)")
        ax.legend(fontsize=8)
    return out


def _keys(rows: list[dict], out: Path) -> Path | None:
    mats = [np.array(r["key_distance_matrix"]) for r in arm(rows) if r.get("key_distance_matrix")]
    if not mats:
        return None
    m = np.mean(mats, axis=0)[np.ix_(FIFTHS_ORDER, FIFTHS_ORDER)]
    with figure(out, ncols=2) as (_, (ax, bx)):
        im = ax.imshow(m, cmap="viridis")
        ax.set_xticks(range(12), KEYS, fontsize=7)
        ax.set_yticks(range(12), KEYS, fontsize=7)
        ax.set_title("Cosine distance between transpositions\n(a chorale's key moved to each key)")
        ax.figure.colorbar(im, ax=ax, fraction=0.046)
        for label, key in (
            ("trained", "key_distance_by_fifths"),
            ("untrained vectors", "untrained_key_distance_by_fifths"),
        ):
            c = _curve(arm(rows), key)
            if c is not None:
                bx.plot(c[0], c[1].mean(0), "o-", label=label)
        bx.set_xlabel("circle-of-fifths distance between the keys")
        bx.set_ylabel("cosine distance (mean over chorales, seeds)")
        bx.legend(fontsize=8)
    return out


def _substitution(rows: list[dict], out: Path) -> Path | None:
    subs = [r["substitution"] for r in arm(rows) if isinstance(r.get("substitution"), dict)]
    if not subs:
        return None
    ns = subs[0]["n"]
    with figure(out) as (_, ax):
        for pick, label in (
            ("uniform", "uniform draw among the n nearest"),
            ("matched", "pitch-class matched pick"),
        ):
            y = np.array([s[pick] for s in subs])
            ax.errorbar(
                ns, y.mean(0), yerr=y.std(0) if len(y) > 1 else None, marker="o", capsize=3, label=label
            )
        for base, label, style in (
            ("random_freq", "random slice, by frequency", "--"),
            ("random", "random slice, uniform", ":"),
        ):
            ax.axhline(np.mean([s[base] for s in subs]), color="grey", linestyle=style, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("neighbourhood size n")
        ax.set_ylabel("share of substitutes in the chorale's key")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
    return out


def figures(rows: list[dict], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    made = [
        _triads(rows, out_dir / "triad_distance_vs_fifths.png"),
        _keys(rows, out_dir / "key_relations.png"),
        _substitution(rows, out_dir / "substitution_in_key.png"),
    ]
    return [p for p in made if p is not None]


def tables(rows: list[dict]) -> str:
    """One line per corpus order: seed means of the headline statistics beside the controls."""
    cols = [
        ("triad_rho", "triad rho"),
        ("untrained_triad_rho", "untrained triad rho"),
        ("functional_gap", "functional gap"),
        ("key_rho", "key rho"),
        ("untrained_key_rho", "untrained key rho"),
    ]
    lines = ["| order | seeds | " + " | ".join(c for _, c in cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for o in ORDERS:
        runs = arm(rows, o)
        if not runs:
            continue
        cells = []
        for key, _ in cols:
            v = [r[key] for r in runs if r.get(key) is not None]
            cells.append(f"{np.mean(v):.3f}" if v else "-")
        lines.append(f"| {o} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""
