"""Derive rules of the molr_mog claims. "error" is the σ²-weighted squared score error against the closed
form (mean over the run's σ), per seed; tables give medians over seeds. Differences between arms come with
an interval over independent runs (each synthetic run is one D and seed, with its own truth and samples)."""

from __future__ import annotations

import math
import statistics

from subspacelab.papers.molr_mog.aggregate import (
    LABELS,
    error_table,
    fmt,
    mnist_rows,
    mnist_scores,
    per_seed_table,
)
from subspacelab.reporting.stats import difference_interval, loglog_slope, t_interval
from subspacelab.reporting.verdict import (
    NOT,
    PARTLY,
    REPRODUCED,
    Verdict,
    cap_for_one_seed,
    holds,
    ladder,
    not_run,
    param,
)

ORDER = (NOT, PARTLY, REPRODUCED)


def _worst(verdicts) -> str:
    return min(verdicts, key=ORDER.index)


def _ratio_text(iv) -> str:
    """An interval of log ratios, shown as ratios."""
    if iv.n < 2 or math.isnan(iv.lo):
        return f"{math.exp(iv.mean):.3g} (n={iv.n} runs, no interval)"
    return f"{math.exp(iv.mean):.3g} [{math.exp(iv.lo):.3g}, {math.exp(iv.hi):.3g}] (n={iv.n} runs, 95% t-interval)"


def _run_log_ratios(rows: list[dict], model: str, baseline: str, metric: str, keep) -> list[float]:
    """Per run (D, seed): the largest log(model / baseline) over the run's n with ``keep(D, n)``."""
    a, b = per_seed_table(rows, model, metric), per_seed_table(rows, baseline, metric)
    worst: dict[tuple[int, int], float] = {}
    for D in a:
        for n, seeds in a[D].items():
            if not keep(D, n):
                continue
            for s, v in seeds.items():
                w = b.get(D, {}).get(n, {}).get(s)
                if w is not None and v > 0 and w > 0:
                    worst[(D, s)] = max(worst.get((D, s), -math.inf), math.log(v / w))
    return list(worst.values())


def rule_ratio_cells(claim: dict, rows: list[dict]) -> Verdict:
    """Median ``model`` error / median ``baseline`` error in every (D, n) cell with n >= ``min_n``.
    reproduced: every ratio <= ``max_ratio`` and the 95% t-interval over runs of each run's worst log ratio
    lies below 0; partly: at least half of the cells (or every cell, without that interval); else not."""
    model, base, metric = (
        param(claim, "model"),
        param(claim, "baseline"),
        param(claim, "metric", "score_error"),
    )
    min_n, max_ratio = int(param(claim, "min_n", 0)), float(param(claim, "max_ratio"))
    a, b = error_table(rows, model, metric), error_table(rows, base, metric)
    ratios = {
        (D, n): a[D][n] / b[D][n]
        for D in a
        if D in b
        for n in a[D]
        if n in b[D] and n >= min_n and b[D][n] > 0
    }
    if not ratios:
        return not_run(f"no cells with both {model} and {base}")
    good = sum(v <= max_ratio for v in ratios.values())
    logs = _run_log_ratios(rows, model, base, metric, lambda D, n: n >= min_n)
    iv = t_interval(logs)
    verdict = REPRODUCED if good == len(ratios) else PARTLY if good >= len(ratios) / 2 else NOT
    if verdict == REPRODUCED and not iv.hi < 0:
        verdict = PARTLY
    verdict = cap_for_one_seed(verdict, iv.n)
    measured = {
        "value": f"{good}/{len(ratios)} cells with ratio <= {max_ratio:g} (median ratio "
        f"{statistics.median(ratios.values()):.3g}, max {max(ratios.values()):.3g}); worst cell "
        f"per run: ratio {_ratio_text(iv)}",
        "ratios": {f"D={D},n={n}": v for (D, n), v in ratios.items()},
        "run_log_ratio": iv.as_dict(),
    }
    return Verdict(measured, verdict, f"{metric} of {LABELS[model]} / {LABELS[base]}, medians over seeds")


def rule_rate(claim: dict, rows: list[dict]) -> Verdict:
    """Log-log slope (stats.loglog_slope, every seed's point) of ``model``'s error against n at each D.
    At every D: reproduced when the slope <= ``reproduced_max`` and its 95% interval lies below 0; partly when
    the slope <= ``partly_max``; the verdict is the worst D's."""
    model, metric = param(claim, "model"), param(claim, "metric", "score_error")
    table = per_seed_table(rows, model, metric)
    slopes = {}
    for D, byn in table.items():
        xs = [n for n, seeds in byn.items() for _ in seeds]
        if len(set(xs)) >= 2:
            slopes[D] = loglog_slope(xs, [v for seeds in byn.values() for v in seeds.values()])
    if not slopes:
        return not_run("fewer than two n per D")
    rep, part = float(param(claim, "reproduced_max")), float(param(claim, "partly_max"))
    per_d = [
        REPRODUCED if s.slope <= rep and s.hi < 0 else PARTLY if s.slope <= part else NOT
        for s in slopes.values()
    ]
    mean = statistics.fmean(s.slope for s in slopes.values())
    measured = {
        "value": "; ".join(f"D={D}: {s.text()}" for D, s in slopes.items()) + f" (mean slope {mean:.2f})",
        "slope": mean,
        "per_D": {str(D): s.as_dict() for D, s in slopes.items()},
    }
    return Verdict(
        measured,
        _worst(per_d),
        "slope of the σ²-weighted squared score error against n (log-log, "
        "every seed's point; 95% t-interval)",
    )


def rule_dimension(claim: dict, rows: list[dict]) -> Verdict:
    """error(D_max) / error(D_min) of ``model`` (medians over seeds) at every common n, judged at the worst n.
    direction "flat": the largest ratio: reproduced <= ``reproduced_ratio``, partly <= ``partly_ratio``;
    direction "grows": the smallest ratio: reproduced >= ``reproduced_ratio``, partly >= ``partly_ratio``, and
    reproduced only if at every n the Welch interval of the seeds' log errors (D_max − D_min) lies above 0."""
    model, metric, direction = (
        param(claim, "model"),
        param(claim, "metric", "score_error"),
        param(claim, "direction"),
    )
    seeds = per_seed_table(rows, model, metric)
    table = error_table(rows, model, metric)
    if len(table) < 2:
        return not_run("fewer than two ambient dimensions")
    lo, hi = min(table), max(table)
    ns = [n for n in table[lo] if n in table[hi]]
    if not ns:
        return not_run("no common n")
    per_n = {n: table[hi][n] / table[lo][n] for n in ns}
    diffs = {
        n: difference_interval(
            [math.log(v) for v in seeds[hi][n].values()], [math.log(v) for v in seeds[lo][n].values()]
        )
        for n in ns
    }
    geo = math.exp(statistics.fmean(math.log(v) for v in per_n.values()))
    rep, part = float(param(claim, "reproduced_ratio")), float(param(claim, "partly_ratio"))
    if direction == "flat":
        worst_n = max(per_n, key=per_n.get)
        verdict = ladder(per_n[worst_n], rep, part, higher_is_better=False)
    else:
        worst_n = min(per_n, key=per_n.get)
        verdict = ladder(per_n[worst_n], rep, part)
        if verdict == REPRODUCED and not all(iv.lo > 0 for iv in diffs.values()):
            verdict = PARTLY
        verdict = cap_for_one_seed(verdict, min(iv.n for iv in diffs.values()))
    seeds_n = min(iv.n for iv in diffs.values())
    measured = {
        "value": f"error(D={hi}) / error(D={lo}) = {per_n[worst_n]:.2f} at the worst n ({worst_n}); "
        + ", ".join(f"n={n}: {v:.2f}" for n, v in per_n.items())
        + f" (medians of {seeds_n} seeds per D; geometric mean over n {geo:.2f})",
        "worst_ratio": per_n[worst_n],
        "worst_n": worst_n,
        "geometric_mean": geo,
        "per_n": {str(n): v for n, v in per_n.items()},
        "log_difference": {str(n): iv.as_dict() for n, iv in diffs.items()},
    }
    return Verdict(measured, verdict, LABELS[model])


def rule_samples(claim: dict, rows: list[dict]) -> Verdict:
    """At the largest n of every D: ``model``'s sample ``metric`` / ``baseline``'s (medians over seeds).
    reproduced: every ratio <= ``max_ratio`` and the 95% t-interval over runs of log(model / baseline) lies
    below 0; partly: every ratio < 1; else not."""
    model, base, metric = param(claim, "model"), param(claim, "baseline"), param(claim, "metric", "sliced_w2")
    a, b = error_table(rows, model, metric), error_table(rows, base, metric)
    t = error_table(rows, "truth", metric)
    per = {}
    for D in a:
        if D in b:
            n = max(a[D])
            per[D] = {
                "n": n,
                "model": a[D][n],
                "baseline": b[D][n],
                "truth": t.get(D, {}).get(n),
                "ratio": a[D][n] / b[D][n] if b[D][n] > 0 else float("inf"),
            }
    if not per:
        return not_run("no runs with both models")
    top = {D: v["n"] for D, v in per.items()}
    iv = t_interval(_run_log_ratios(rows, model, base, metric, lambda D, n: n == top.get(D)))
    ratios = [v["ratio"] for v in per.values()]
    verdict = holds(
        all(r <= float(param(claim, "max_ratio")) for r in ratios) and iv.hi < 0,
        partial=all(r < 1 for r in ratios),
    )
    verdict = cap_for_one_seed(verdict, iv.n)
    value = "; ".join(
        f"D={D}: {fmt(v['model'])} vs {fmt(v['baseline'])} (ratio {v['ratio']:.2f}; fresh true "
        f"samples {fmt(v['truth'] or 0)})"
        for D, v in per.items()
    )
    measured = {
        "value": f"{value}; per-run ratio {_ratio_text(iv)}",
        "per_D": {str(D): v for D, v in per.items()},
        "run_log_ratio": iv.as_dict(),
    }
    return Verdict(measured, verdict, f"{metric} at the largest n")


def _mnist_pairs(rows: list[dict], model: str, base: str, metric: str) -> list[float]:
    """Per MNIST run: ``model``'s ``metric`` − ``baseline``'s."""
    return [
        float(r[model][metric]) - float(r[base][metric])
        for r in mnist_rows(rows)
        if metric in r.get(model, {}) and metric in r.get(base, {})
    ]


def rule_mnist_gap(claim: dict, rows: list[dict]) -> Verdict:
    """``metric`` (classifier probability of the intended digit), ``model`` − ``baseline``, mean over MNIST runs:
    reproduced >= ``reproduced_gap`` (and, with several runs, the paired 95% interval above 0; one run: at most
    partly); partly >= ``partly_gap``; else not."""
    model, base, metric = (
        param(claim, "model"),
        param(claim, "baseline"),
        param(claim, "metric", "intended_prob"),
    )
    gaps = _mnist_pairs(rows, model, base, metric)
    if not gaps:
        return not_run("no MNIST run with both models")
    s = mnist_scores(rows, metric)
    iv = t_interval(gaps)
    verdict = ladder(iv.mean, float(param(claim, "reproduced_gap")), float(param(claim, "partly_gap")))
    if verdict == REPRODUCED and iv.n >= 2 and not iv.lo > 0:
        verdict = PARTLY
    verdict = cap_for_one_seed(verdict, iv.n)
    measured = {
        "value": f"{s[model]:.3f} vs {s[base]:.3f} (gap {iv.mean:+.3f}, n={iv.n} MNIST run"
        f"{'s' if iv.n > 1 else ''}; real test digits {s.get('real_test', float('nan')):.3f}, "
        f"PCA-decoder ceiling {s.get('pca_ceiling', float('nan')):.3f})",
        "gap": iv.mean,
        "scores": s,
        "gap_interval": iv.as_dict(),
    }
    return Verdict(
        measured,
        verdict,
        f"{LABELS[model]} vs {LABELS[base]}" + ("; one seed: at most partly" if iv.n < 2 else ""),
    )


def rule_mnist_close(claim: dict, rows: list[dict]) -> Verdict:
    """``model`` within ``tol`` of ``baseline`` in ``metric`` (mean over MNIST runs) with at least ``min_factor``
    times fewer expert parameters: reproduced (with several runs, the paired 95% interval of the gap above
    −``tol``; one run: at most partly); within ``partly_tol`` (any saving), or within ``tol`` with a smaller
    saving: partly; else not."""
    model, base, metric = (
        param(claim, "model"),
        param(claim, "baseline"),
        param(claim, "metric", "intended_prob"),
    )
    gaps = _mnist_pairs(rows, model, base, metric)
    if not gaps:
        return not_run("no MNIST run with both models")
    s, p = mnist_scores(rows, metric), mnist_scores(rows, "expert_parameters")
    iv = t_interval(gaps)
    tol, factor = float(param(claim, "tol")), p[base] / p[model]
    verdict = holds(
        iv.mean >= -tol and factor >= float(param(claim, "min_factor")),
        partial=iv.mean >= -float(param(claim, "partly_tol")),
    )
    if verdict == REPRODUCED and iv.n >= 2 and not iv.lo >= -tol:
        verdict = PARTLY
    verdict = cap_for_one_seed(verdict, iv.n)
    measured = {
        "value": f"{s[model]:.3f} vs {s[base]:.3f} (gap {iv.mean:+.3f}, n={iv.n} MNIST run"
        f"{'s' if iv.n > 1 else ''}) with {factor:.1f}x fewer expert parameters "
        f"({p[model]:.0f} vs {p[base]:.0f})",
        "gap": iv.mean,
        "param_factor": factor,
        "gap_interval": iv.as_dict(),
    }
    note = "expert parameters exclude the per-digit PCA decoders, which every model shares"
    return Verdict(measured, verdict, note + ("; one seed: at most partly" if iv.n < 2 else ""))


RULES = {
    "molr_mog_ratio": rule_ratio_cells,
    "molr_mog_rate": rule_rate,
    "molr_mog_dimension": rule_dimension,
    "molr_mog_samples": rule_samples,
    "molr_mog_mnist_gap": rule_mnist_gap,
    "molr_mog_mnist_close": rule_mnist_close,
}
