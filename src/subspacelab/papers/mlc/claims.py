"""Derive rules for the MLC claims. Differences between arms (MLC vs a baseline, Z_TCR vs Z_MLC, one-shot vs
random init) are paired over the seeds of each dataset: a difference counts only when its 95% t-interval
excludes no effect; with one seed there is no interval and a claimed effect is at most ``partly``."""

from __future__ import annotations

import math

from subspacelab.papers.mlc.results import (
    PAPER_TABLE2,
    fmt_means,
    mean,
    method_means,
    per_seed,
    runs_by_dataset,
)
from subspacelab.reporting.stats import Interval, difference_interval
from subspacelab.reporting.verdict import NOT, PARTLY, REPRODUCED, Verdict, holds, not_run, param


def _paired(runs: list[dict], a: str, b: str) -> Interval | None:
    """Interval of ACC(a) − ACC(b) over the seeds both ran (None when none)."""
    x, y = per_seed(runs, a), per_seed(runs, b)
    seeds = sorted(set(x) & set(y))
    if not seeds:
        return None
    return difference_interval([x[s] for s in seeds], [y[s] for s in seeds], paired=True)


def _above(iv: Interval, value: float = 0.0) -> bool:
    """The interval lies above ``value`` (False without an interval, i.e. with one seed)."""
    return not math.isnan(iv.lo) and iv.lo > value


def _iv(iv: Interval) -> str:
    if math.isnan(iv.lo):
        return f"{iv.mean:+.3f} (n={iv.n})"
    return f"{iv.mean:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}] (n={iv.n})"


def rule_beats(claim: dict, rows: list[dict]) -> Verdict:
    """MLC (read out on the baselines' images) minus each baseline, ACC paired over seeds per dataset.
    reproduced: the 95% t-interval lies above 0 for every baseline on every dataset; partly: MLC's seed mean is
    above at least one baseline on every dataset, or above every baseline on some dataset; else not."""
    method, bases, by = param(claim, "method"), list(param(claim, "baselines")), runs_by_dataset(rows)
    if not by:
        return not_run("no runs")
    ivs, parts = {}, []
    for ds, runs in sorted(by.items()):
        means = method_means(runs)
        if method not in means or not all(b in means for b in bases):
            return not_run(f"{ds}: a method was not run")
        ivs[ds] = {b: _paired(runs, method, b) for b in bases}
        parts.append(
            f"{ds}: {fmt_means(means, [method, *bases])} (MLC minus "
            + ", ".join(f"{b} {_iv(ivs[ds][b])}" for b in bases)
            + ")"
        )
    wins = {ds: {b: iv.mean > 0 for b, iv in d.items()} for ds, d in ivs.items()}
    sure = all(_above(iv) for d in ivs.values() for iv in d.values())
    all_ds = [all(w.values()) for w in wins.values()]
    any_ds = [any(w.values()) for w in wins.values()]
    verdict = REPRODUCED if sure else PARTLY if all(any_ds) or any(all_ds) else NOT
    unsure = [
        f"{ds} ({ivs[ds][bases[0]].n} seed(s))"
        for ds, d in ivs.items()
        if not all(_above(iv) for iv in d.values())
    ]
    note = "baselines: best ACC over their (cut) grid, chosen with the labels"
    if unsure and verdict == PARTLY and all(all_ds):
        note += f"; ahead on every seed mean, but the seed interval does not exclude 0 on {', '.join(unsure)}"
    return Verdict(
        {
            "value": "; ".join(parts) + " (ACC, seed means; paired differences with 95% t-interval)",
            "wins": wins,
            "intervals": {ds: {b: iv.as_dict() for b, iv in d.items()} for ds, d in ivs.items()},
        },
        verdict,
        note,
    )


def rule_features_help(claim: dict, rows: list[dict]) -> Verdict:
    """ACC gain of each baseline from Z_TCR to Z_MLC, paired over seeds per dataset. reproduced: every (pair,
    dataset) gains >= min_gain on the seed mean with its 95% t-interval above 0; partly: some (pair, dataset)
    gains >= min_gain on the seed mean; else not."""
    pairs, min_gain, by = param(claim, "pairs"), float(param(claim, "min_gain")), runs_by_dataset(rows)
    if not by:
        return not_run("no runs")
    gains, ivs, parts = {}, {}, []
    for ds, runs in sorted(by.items()):
        means = method_means(runs)
        for before, after in pairs:
            if before in means and after in means:
                iv = _paired(runs, after, before)
                gains[f"{ds}:{after}"], ivs[f"{ds}:{after}"] = iv.mean, iv
                parts.append(
                    f"{ds} {before} {means[before][0]:.3f} -> {after} {means[after][0]:.3f} ({_iv(iv)})"
                )
    if not gains:
        return not_run("no baseline pairs were run")
    verdict = holds(
        all(g >= min_gain and _above(ivs[k]) for k, g in gains.items()),
        partial=any(g >= min_gain for g in gains.values()),
    )
    return Verdict(
        {"value": "; ".join(parts), "gains": gains, "intervals": {k: v.as_dict() for k, v in ivs.items()}},
        verdict,
        "best-of-grid ACC on the same images; gain with its 95% t-interval over seeds",
    )


def rule_ranks(claim: dict, rows: list[dict]) -> Verdict:
    """Z_MLC per true class vs overall (95% energy, seed means per dataset): (a) mean per-class rank <=
    max_class_frac·d, (b) overall rank >= min_overall_frac·d, (c) the mean per-class rank fell during MLC.
    reproduced: (a), (b), (c) on every dataset; partly: at least two of them on every dataset; not otherwise."""
    max_class, min_overall, by = (
        float(param(claim, "max_class_frac")),
        float(param(claim, "min_overall_frac")),
        runs_by_dataset(rows),
    )
    if not by:
        return not_run("no runs")
    checks, parts = {}, []
    for ds, runs in sorted(by.items()):
        d = runs[0]["geometry"]["mlc"]["dim"]
        cls = mean(r["geometry"]["mlc"]["class_rank_mean"] for r in runs)
        overall = mean(r["geometry"]["mlc"]["overall_rank"] for r in runs)
        start = mean(r["mlc_log"][0]["class_rank_mean"] for r in runs)
        end = mean(r["mlc_log"][-1]["class_rank_mean"] for r in runs)
        checks[ds] = {
            "class_low": cls <= max_class * d,
            "overall_high": overall >= min_overall * d,
            "class_fell": end < start,
        }
        parts.append(f"{ds}: per-class {cls:.1f} (start of MLC {start:.1f}), overall {overall:.1f}, d = {d}")
    n_ok = [sum(c.values()) for c in checks.values()]
    verdict = REPRODUCED if min(n_ok) == 3 else PARTLY if min(n_ok) >= 2 else NOT
    return Verdict({"value": "; ".join(parts), "checks": checks}, verdict, "ranks over the read-out images")


def rule_blocks(claim: dict, rows: list[dict]) -> Verdict:
    """Mean |cos| between Z_MLC features of different classes (inter) and of the same class (intra).
    reproduced: inter <= max_inter and intra >= min_intra on every dataset; partly: intra/inter larger on Z_MLC
    than on Z_TCR on every dataset; not reproduced: otherwise."""
    max_inter, min_intra, by = (
        float(param(claim, "max_inter")),
        float(param(claim, "min_intra")),
        runs_by_dataset(rows),
    )
    if not by:
        return not_run("no runs")
    full, sharper, parts = [], [], []
    for ds, runs in sorted(by.items()):
        g = {
            t: (
                mean(r["geometry"][t]["intra_cos"] for r in runs),
                mean(r["geometry"][t]["inter_cos"] for r in runs),
            )
            for t in ("tcr", "mlc")
        }
        full.append(g["mlc"][1] <= max_inter and g["mlc"][0] >= min_intra)
        sharper.append(g["mlc"][0] / g["mlc"][1] > g["tcr"][0] / g["tcr"][1])
        parts.append(
            f"{ds}: Z_MLC intra {g['mlc'][0]:.3f} inter {g['mlc'][1]:.3f} (Z_TCR {g['tcr'][0]:.3f} / "
            f"{g['tcr'][1]:.3f})"
        )
    return Verdict(
        {"value": "; ".join(parts)}, holds(all(full), partial=all(sharper)), "|cos| over the read-out images"
    )


def rule_rates(claim: dict, rows: list[dict]) -> Verdict:
    """R and R_c on the fixed probe batch, end of MLC / start (after the head copy), seed means per dataset.
    reproduced: R_c ratio <= max_rc_ratio and |R ratio − 1| <= max_r_change on every dataset; partly: R_c falls
    (ratio < 0.95) and relatively more than R on every dataset; not reproduced: otherwise."""
    max_rc, max_r, by = (
        float(param(claim, "max_rc_ratio")),
        float(param(claim, "max_r_change")),
        runs_by_dataset(rows),
    )
    if not by:
        return not_run("no runs")
    full, some, parts = [], [], []
    for ds, runs in sorted(by.items()):
        r_ratio = mean(r["mlc_log"][-1]["R"] / r["mlc_log"][0]["R"] for r in runs)
        rc_ratio = mean(r["mlc_log"][-1]["Rc"] / r["mlc_log"][0]["Rc"] for r in runs)
        full.append(rc_ratio <= max_rc and abs(r_ratio - 1) <= max_r)
        some.append(rc_ratio < 0.95 and rc_ratio < r_ratio)
        parts.append(f"{ds}: R end/start {r_ratio:.3f}, R_c end/start {rc_ratio:.3f}")
    return Verdict(
        {"value": "; ".join(parts)},
        holds(all(full), partial=all(some)),
        "R, R_c without augmentation on a fixed batch, eval mode",
    )


def rule_one_shot(claim: dict, rows: list[dict]) -> Verdict:
    """ACC(one-shot init) − ACC(random cluster-head init), paired over seeds per dataset. reproduced: on every
    dataset the seed mean gain is >= min_gain and its 95% t-interval lies above 0; partly: the seed mean gain is
    >= −tol on every dataset (no worse); not reproduced: otherwise."""
    min_gain, tol, by = float(param(claim, "min_gain")), float(param(claim, "tol")), runs_by_dataset(rows)
    gaps, ivs, parts = {}, {}, []
    for ds, runs in sorted(by.items()):
        means = method_means(runs)
        if "mlc_random_init" not in means:
            continue
        ivs[ds] = _paired(runs, "mlc", "mlc_random_init")
        gaps[ds] = ivs[ds].mean
        parts.append(
            f"{ds}: one-shot {means['mlc'][0]:.3f} ± {means['mlc'][1]:.3f} vs random "
            f"{means['mlc_random_init'][0]:.3f} ± {means['mlc_random_init'][1]:.3f}, gain {_iv(ivs[ds])}"
        )
    if not gaps:
        return not_run("the random-init ablation was not run")
    verdict = holds(
        all(g >= min_gain and _above(ivs[ds]) for ds, g in gaps.items()), partial=min(gaps.values()) >= -tol
    )
    return Verdict(
        {"value": "; ".join(parts), "gaps": gaps, "intervals": {k: v.as_dict() for k, v in ivs.items()}},
        verdict,
        "same TCR network, batches and augmentations; gain with its 95% t-interval over seeds",
    )


def rule_eta(claim: dict, rows: list[dict]) -> Verdict:
    """η sweep of the read-out on Z_MLC's cluster head (seed means per dataset). reproduced: Γ's row entropy
    strictly increases with η AND the smallest η's ACC is below the best by >= min_drop (over-segmentation);
    partly: the entropy ordering only; not reproduced: otherwise (every dataset)."""
    min_drop, by = float(param(claim, "min_drop")), runs_by_dataset(rows)
    if not by:
        return not_run("no runs")
    mono, drop, parts = [], [], []
    for ds, runs in sorted(by.items()):
        etas = [e["eta"] for e in runs[0]["eta_sweep"]]
        ent = [mean(r["eta_sweep"][i]["gamma_entropy"] for r in runs) for i in range(len(etas))]
        acc = [mean(r["eta_sweep"][i]["acc"] for r in runs) for i in range(len(etas))]
        mono.append(all(a < b for a, b in zip(ent, ent[1:], strict=False)))
        drop.append(max(acc) - acc[0] >= min_drop)
        parts.append(
            f"{ds}: "
            + ", ".join(f"η {e:g}: H {h:.2f} ACC {a:.3f}" for e, h, a in zip(etas, ent, acc, strict=True))
        )
    return Verdict(
        {"value": "; ".join(parts)},
        holds(all(mono) and all(drop), partial=all(mono)),
        "H = mean row entropy of Γ (log n for uniform, 0 for a permutation)",
    )


def rule_paper_values(claim: dict, rows: list[dict]) -> Verdict:
    """Our CIFAR-10 ACC/NMI next to Table 2's. reproduced: every method within tol points in ACC; partly: within
    2·tol; not reproduced: otherwise. Only runs on ``dataset`` count."""
    dataset, tol = param(claim, "dataset"), float(param(claim, "tol"))
    runs = runs_by_dataset(rows).get(dataset, [])
    if not runs:
        return not_run(f"no runs on {dataset}")
    means = method_means(runs)
    diffs = {m: 100 * means[m][0] - PAPER_TABLE2[m][0] for m in PAPER_TABLE2 if m in means}
    worst = max(abs(v) for v in diffs.values())
    verdict = REPRODUCED if worst <= tol else PARTLY if worst <= 2 * tol else NOT
    return Verdict(
        {
            "value": ", ".join(f"{m} {100 * means[m][0]:.1f} (paper {PAPER_TABLE2[m][0]})" for m in diffs),
            "diffs": diffs,
        },
        verdict,
        "",
    )


RULES = {
    "mlc_beats_baselines": rule_beats,
    "mlc_features_help_baselines": rule_features_help,
    "mlc_subspace_ranks": rule_ranks,
    "mlc_orthogonal_blocks": rule_blocks,
    "mlc_rate_dynamics": rule_rates,
    "mlc_one_shot_init": rule_one_shot,
    "mlc_eta_sparsity": rule_eta,
    "mlc_paper_values": rule_paper_values,
}
