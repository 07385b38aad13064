"""Derive rules for the HF-DSC claims. Every comparison between arms is per dataset on the seeds both arms ran:
with two or more seeds it is judged on the 95% t-interval of the difference; with one seed the point values
decide and a claimed win is at most ``partly`` (``cap_for_one_seed``)."""

from __future__ import annotations

import math
import statistics

from subspacelab.papers.hf_dsc.results import (
    LABELS,
    datasets_run,
    dscnet_seeds,
    hf_seeds,
    hf_value,
    linear_seeds,
    oracle_value,
)
from subspacelab.reporting.stats import difference_interval, t_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, cap_for_one_seed, not_run, param

LINEAR = ("lsr", "ssc", "ensc", "ssc_omp", "lrr")


def _above(a: dict[int, float], b: dict[int, float], margin: float = 0.0) -> bool:
    """mean(a) − mean(b) >= −margin (margin 0: strictly above): on the Welch interval's lower end with >= 2 seeds in
    each arm, on the means otherwise."""
    iv = difference_interval(list(a.values()), list(b.values()))
    low = iv.mean if math.isnan(iv.lo) else iv.lo
    return low >= -margin if margin else low > 0


def _n_seeds(*arms: dict[int, float]) -> int:
    return min(len(a) for a in arms)


def rule_beats_tuned_linear(claim: dict, rows: list[dict]) -> Verdict:
    """Per dataset: HF-DSC's self-stopped ACC against the label-tuned ACC of each linear method (best of grid).
    ``beats_most``: above more than half of them; ``close``: not below the best by ``gap`` or more. reproduced:
    both on every dataset; partly: both on at least half the datasets, or one of the two on every dataset;
    else not. One seed: at most partly."""
    gap, methods = float(param(claim, "gap")), param(claim, "methods", LINEAR)
    per, parts, n = {}, [], []
    for ds in datasets_run(rows):
        ours = hf_seeds(rows, ds)
        table = {m: v for m, v in linear_seeds(rows, ds).items() if m in methods}
        if not ours or not table:
            continue
        accs = {m: statistics.fmean(v.values()) for m, v in table.items()}
        best_m = max(accs, key=accs.get)
        below = sum(_above(ours, v) for v in table.values())
        most, close = below > len(table) / 2, _above(ours, table[best_m], gap)
        mean_ours = statistics.fmean(ours.values())
        n.append(_n_seeds(ours, *table.values()))
        per[ds] = {
            "hf_dsc": mean_ours,
            "tuned": accs,
            "beats": below,
            "of": len(accs),
            "beats_most": most,
            "close": close,
            "n_seeds": n[-1],
        }
        parts.append(
            f"{ds}: {mean_ours:.3f} beats {below}/{len(accs)}, best {LABELS[best_m]} {accs[best_m]:.3f}"
        )
    if not per:
        return not_run("no dataset with both HF-DSC and linear runs")
    both = [v["beats_most"] and v["close"] for v in per.values()]
    if all(both):
        verdict = REPRODUCED
    elif (
        sum(both) >= len(both) / 2
        or all(v["beats_most"] for v in per.values())
        or all(v["close"] for v in per.values())
    ):
        verdict = PARTLY
    else:
        verdict = NOT
    value = "; ".join(parts) + f" (ACC, n={min(n)} seed(s) per dataset)"
    return Verdict(
        {"value": value, "datasets": per},
        cap_for_one_seed(verdict, min(n)),
        f"linear methods tuned on the labels (best ACC over their grid and over two read-outs); gap {gap}",
    )


def rule_ablation(claim: dict, rows: list[dict]) -> Verdict:
    """ACC(HF-DSC as run) − ACC(ablation), paired per (dataset, seed). reproduced: every dataset's mean
    difference >= −tol and the 95% t-interval of all paired differences above 0; partly: their mean >= 0;
    else not. One seed per dataset: at most partly."""
    ablation, tol = param(claim, "ablation"), float(param(claim, "tol"))
    diffs, pairs, parts, n = {}, [], [], []
    for ds in datasets_run(rows):
        ours = hf_seeds(rows, ds)
        other = (
            hf_seeds(rows, ds, layers="last")
            if ablation == "last_layer"
            else hf_seeds(rows, ds, readout=ablation)
        )
        seeds = sorted(set(ours) & set(other))
        if not seeds:
            continue
        d = [ours[s] - other[s] for s in seeds]
        pairs += d
        n.append(len(seeds))
        diffs[ds] = statistics.fmean(d)
        parts.append(
            f"{ds} {statistics.fmean(ours[s] for s in seeds):.3f} vs "
            f"{statistics.fmean(other[s] for s in seeds):.3f}"
        )
    if not diffs:
        return not_run(f"no dataset with both HF-DSC and the {ablation} ablation")
    iv = t_interval(pairs)
    # with one seed per dataset the spread of the pairs is between datasets, not seeds: no seed interval
    seeded = min(n) >= 2 and not math.isnan(iv.lo)
    interval = f" [{iv.lo:+.3f}, {iv.hi:+.3f}] (95% t-interval)" if seeded else ""
    mean = iv.mean
    if all(v >= -tol for v in diffs.values()) and mean > 0 and (not seeded or iv.lo > 0):
        verdict = REPRODUCED
    elif mean >= 0:
        verdict = PARTLY
    else:
        verdict = NOT
    value = (
        "; ".join(parts)
        + f" (ACC; mean difference {mean:+.3f}{interval}, n={len(pairs)} dataset-seed pairs, "
        f"{min(n)} seed(s) per dataset)"
    )
    note = "one seed per dataset: at most partly" if min(n) < 2 and verdict != NOT else ""
    return Verdict(
        {
            "value": value,
            "differences": diffs,
            "mean_difference": mean,
            "interval": iv.as_dict() if seeded else None,
        },
        cap_for_one_seed(verdict, min(n)),
        note,
    )


def rule_stop_near_oracle(claim: dict, rows: list[dict]) -> Verdict:
    """Oracle-best ACC on the evaluation curve minus the self-stopped ACC (seed means), per dataset. reproduced:
    <= tol everywhere; partly: <= partly_tol everywhere; else not reproduced."""
    tol, partly_tol = float(param(claim, "tol")), float(param(claim, "partly_tol"))
    gaps, parts = {}, []
    for ds in datasets_run(rows):
        ours, best = hf_value(rows, ds), oracle_value(rows, ds)
        if ours is None or best is None:
            continue
        gaps[ds] = best - ours
        parts.append(f"{ds} {ours:.3f} vs oracle {best:.3f}")
    if not gaps:
        return not_run("no HF-DSC run with an evaluation curve")
    worst = max(gaps.values())
    verdict = REPRODUCED if worst <= tol else PARTLY if worst <= partly_tol else NOT
    return Verdict(
        {"value": "; ".join(parts) + f" (largest gap {worst:.3f})", "gaps": gaps},
        verdict,
        "oracle = the best ACC among the read-outs every few steps of stages 2 and 3 (labels used only here)",
    )


def rule_beats_dscnet(claim: dict, rows: list[dict]) -> Verdict:
    """HF-DSC's self-stopped ACC against DSC-Net's per dataset. A dataset counts as a win when HF-DSC is at least
    as accurate (with >= 2 seeds per arm: the Welch interval of the difference above 0). reproduced: every
    dataset where DSC-Net ran; partly: at least one; else not. One seed: at most partly."""
    wins, parts, n = {}, [], []
    for ds in datasets_run(rows):
        ours, theirs = hf_seeds(rows, ds), dscnet_seeds(rows, ds)
        if not ours or not theirs:
            continue
        n.append(_n_seeds(ours, theirs))
        a, b = statistics.fmean(ours.values()), statistics.fmean(theirs.values())
        wins[ds] = _above(ours, theirs) if n[-1] >= 2 else a >= b
        parts.append(f"{ds} {a:.3f} vs {b:.3f}")
    if not wins:
        return not_run("no dataset with both HF-DSC and DSC-Net runs")
    verdict = REPRODUCED if all(wins.values()) else PARTLY if any(wins.values()) else NOT
    value = "; ".join(parts) + f" (ACC, HF-DSC vs DSC-Net, n={min(n)} seed(s) per dataset)"
    return Verdict(
        {"value": value, "wins": wins},
        cap_for_one_seed(verdict, min(n)),
        "DSC-Net with its authors' per-dataset weights and read-out (chosen with labels in its paper)",
    )


def rule_paper_values(claim: dict, rows: list[dict]) -> Verdict:
    """The paper's tables were not read: our seed means are shown, with no verdict."""
    parts = [
        f"{ds} " + "/".join(f"{hf_value(rows, ds, key=k):.3f}" for k in ("acc", "nmi", "ari"))
        for ds in datasets_run(rows)
        if hf_value(rows, ds) is not None
    ]
    ours = "; ".join(parts) + " (ACC/NMI/ARI, ours)" if parts else None
    return not_run(
        "the paper's tables were not retrieved (only its abstract could be read), so no comparison is "
        "possible",
        value=ours,
    )


RULES = {
    "hf_dsc_beats_tuned_linear": rule_beats_tuned_linear,
    "hf_dsc_ablation": rule_ablation,
    "hf_dsc_stop_near_oracle": rule_stop_near_oracle,
    "hf_dsc_beats_dscnet": rule_beats_dscnet,
    "hf_dsc_paper_values": rule_paper_values,
}
