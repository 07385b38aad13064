"""Derive rules for the g_theory claims: CM's speed to the MMI, its monotonicity, CM-EM against EM (imbalanced
ratios and the balanced control), and truth functions under a prior shift against logistic regression."""

from __future__ import annotations

import math

import numpy as np

from subspacelab.reporting.stats import difference_interval, t_interval
from subspacelab.reporting.verdict import (
    NOT,
    PARTLY,
    REPRODUCED,
    Verdict,
    cap_for_one_seed,
    holds,
    not_run,
    param,
)


def part_rows(rows: list[dict], part: str) -> list[dict]:
    return [r for r in rows if r.get("part") == part]


def mixture_rows(rows: list[dict], ratio: float) -> list[dict]:
    """The mixture runs of one majority ratio, sorted by seed."""
    out = [r for r in part_rows(rows, "mixture") if math.isclose(float(r.get("ratio", -1)), float(ratio))]
    return sorted(out, key=lambda r: r.get("seed", 0))


def shift_rows(rows: list[dict], dataset: str) -> list[dict]:
    return sorted(
        [r for r in part_rows(rows, "prior_shift") if r.get("dataset") == dataset],
        key=lambda r: r.get("seed", 0),
    )


def rule_mmi_fraction(claim: dict, rows: list[dict]) -> Verdict:
    """Fraction of random starts with I(X;Y) >= ``level`` x MMI after ``iterations`` CM iterations, pooled over
    runs; reproduced if >= ``reproduced`` and the t-interval over runs of the per-run fraction lies above 0.5."""
    runs = part_rows(rows, "mmi")
    if not runs:
        return not_run("no mmi runs")
    k, level = int(param(claim, "iterations", 3)), float(param(claim, "level", 0.99))
    per_run, pooled, by_k = [], [], {}
    for r in runs:
        frac = np.array(r["mi_fraction"])
        if frac.shape[1] <= k:
            return not_run(f"runs follow fewer than {k} CM iterations")
        hit = frac[:, k] >= level
        per_run.append(float(hit.mean()))
        pooled.extend(hit.tolist())
        for j in range(frac.shape[1]):
            by_k.setdefault(j, []).extend((frac[:, j] >= level).tolist())
    share = float(np.mean(pooled))
    iv = t_interval(per_run)
    ok = share >= float(param(claim, "reproduced", 0.8)) and (len(per_run) >= 2 and iv.lo > 0.5)
    verdict = REPRODUCED if ok else PARTLY if share >= float(param(claim, "partly", 0.5)) else NOT
    curve = {j: float(np.mean(v)) for j, v in sorted(by_k.items())}
    value = (
        f"{share:.0%} of {len(pooled)} starts >= {level:.0%} MMI after {k} iterations (per run: {iv.text('.2f')}); "
        + ", ".join(f"{j} it.: {v:.0%}" for j, v in curve.items() if j <= 5)
    )
    note = (
        f"MMI reference {np.mean([r['mmi_bits'] for r in runs]):.4f} bits (MAP partition "
        f"{np.mean([r['map_partition_bits'] for r in runs]):.4f})"
    )
    return Verdict(
        {"value": value, "mean": share, "per_run": per_run, "by_iteration": curve, **iv.as_dict()},
        verdict,
        note,
    )


def rule_cm_monotone(claim: dict, rows: list[dict]) -> Verdict:
    """The smallest step of I(X;Y), of I_k − G_k and of G_k − I_(k−1) over every start and iteration >= −tol."""
    runs = part_rows(rows, "mmi")
    if not runs:
        return not_run("no mmi runs")
    tol = float(param(claim, "tolerance", 1e-10))
    keys = ("min_mi_increase_bits", "min_shannon_minus_semantic_bits", "min_semantic_minus_previous_bits")
    worst = {k: float(min(r[k] for r in runs)) for k in keys}
    value = ", ".join(f"{k.removeprefix('min_').removesuffix('_bits')} {v:.2e}" for k, v in worst.items())
    return Verdict({"value": value, **worst}, holds(all(v >= -tol for v in worst.values())), "")


def _per_seed(rows: list[dict], key_em: str, key_cm: str) -> tuple[list[float], list[float]]:
    return [float(r[key_em]) for r in rows], [float(r[key_cm]) for r in rows]


def rule_cmem_vs_em(claim: dict, rows: list[dict]) -> Verdict:
    """Per ratio: faster (interval of log(median EM iterations / median CM-EM iterations) above 0, and, with
    ``same_fit_bits``, CM-EM's mean final KL at most EM's + that: stopping sooner at a worse fit is not
    converging faster) or better (interval of EM − CM-EM mean final KL above 0); reproduced if every ratio
    counts, partly if one does."""
    ratios = [float(r) for r in param(claim, "ratios", [0.9, 0.97])]
    same_fit = param(claim, "same_fit_bits", None)
    counts, parts, n_min, detail = [], [], math.inf, {}
    for ratio in ratios:
        runs = mixture_rows(rows, ratio)
        if not runs:
            continue
        em_it, cm_it = _per_seed(runs, "em_median_iterations", "cm_em_median_iterations")
        em_kl, cm_kl = _per_seed(runs, "em_mean_final_kl", "cm_em_mean_final_kl")
        speed = t_interval(np.log(np.array(em_it) / np.array(cm_it)))
        better = difference_interval(em_kl, cm_kl, paired=True)
        # one seed: no interval, the direction alone counts and the verdict is capped at partly below
        faster_ok = speed.mean > 0 and (len(runs) < 2 or speed.lo > 0)
        if same_fit is not None:
            faster_ok = faster_ok and float(np.mean(cm_kl)) <= float(np.mean(em_kl)) + float(same_fit)
        better_ok = better.mean > 0 and (len(runs) < 2 or better.lo > 0)
        counts.append(faster_ok or better_ok)
        n_min = min(n_min, len(runs))
        e_em = np.mean([r["em_median_e_steps"] for r in runs])
        e_cm = np.mean([r["cm_em_median_e_steps"] for r in runs])
        detail[str(ratio)] = {
            "em_iterations": float(np.mean(em_it)),
            "cm_em_iterations": float(np.mean(cm_it)),
            "log_speedup": speed.as_dict(),
            "kl_em_minus_cm": better.as_dict(),
            "em_e_steps": float(e_em),
            "cm_em_e_steps": float(e_cm),
        }
        parts.append(
            f"r={ratio}: median iterations EM {np.mean(em_it):.0f} vs CM-EM {np.mean(cm_it):.0f} "
            f"(log ratio {speed.text('.2f')}), E-steps {e_em:.0f} vs {e_cm:.0f}, final KL EM "
            f"{np.mean(em_kl):.2e} vs CM-EM {np.mean(cm_kl):.2e} bits"
        )
    if not counts:
        return not_run("no mixture runs of the claim's ratios")
    verdict = REPRODUCED if all(counts) and len(counts) == len(ratios) else PARTLY if any(counts) else NOT
    verdict = cap_for_one_seed(verdict, int(n_min))
    return Verdict(
        {"value": "; ".join(parts), "per_ratio": detail, "n": int(n_min)},
        verdict,
        "iterations are outer iterations; CM-EM's repeated ratio updates are extra E-steps (counted apart)",
    )


def rule_cmem_control(claim: dict, rows: list[dict]) -> Verdict:
    """Balanced ratio: CM-EM's median iterations <= factor x EM's and mean KL <= EM's + slack."""
    runs = mixture_rows(rows, float(param(claim, "ratio", 0.5)))
    if not runs:
        return not_run("no mixture runs at the control ratio")
    em_it, cm_it = _per_seed(runs, "em_median_iterations", "cm_em_median_iterations")
    em_kl, cm_kl = _per_seed(runs, "em_mean_final_kl", "cm_em_mean_final_kl")
    speed_ok = np.mean(cm_it) <= float(param(claim, "max_iteration_factor", 1.25)) * np.mean(em_it)
    kl_ok = np.mean(cm_kl) <= np.mean(em_kl) + float(param(claim, "kl_slack", 1e-4))
    value = (
        f"median iterations EM {np.mean(em_it):.0f} vs CM-EM {np.mean(cm_it):.0f}; final KL EM "
        f"{np.mean(em_kl):.2e} vs CM-EM {np.mean(cm_kl):.2e} bits (n={len(runs)} seeds)"
    )
    return Verdict({"value": value, "n": len(runs)}, holds(speed_ok and kl_ok, speed_ok or kl_ok), "")


def rule_prior_shift(claim: dict, rows: list[dict]) -> Verdict:
    """Per dataset: mean ECE of ``method`` <= ``max_ece`` and the paired interval of (control − method)
    log-loss above 0; reproduced if both hold on every dataset, partly if both on one or one on every."""
    method, control = param(claim, "method", "lbi_kde"), param(claim, "control", "lr")
    datasets = param(claim, "datasets", ["iris", "wine"])
    conds, parts, n_min = {}, [], math.inf
    for d in datasets:
        runs = shift_rows(rows, d)
        if not runs:
            continue
        ece = float(np.mean([r[f"{method}_ece"] for r in runs]))
        diff = difference_interval(
            [r[f"{control}_log_loss"] for r in runs], [r[f"{method}_log_loss"] for r in runs], paired=True
        )
        conds[d] = (
            ece <= float(param(claim, "max_ece", 0.1)),
            diff.mean > 0 and (len(runs) < 2 or diff.lo > 0),
        )
        n_min = min(n_min, len(runs))
        arms = ", ".join(
            f"{a} {np.mean([r[f'{a}_log_loss'] for r in runs]):.3f}/{np.mean([r[f'{a}_ece'] for r in runs]):.3f}"
            for a in ("lbi_kde", "lr_adjusted", "lr", "lbi_kde_old_prior")
            if f"{a}_log_loss" in runs[0]
        )
        parts.append(f"{d}: log-loss/ECE {arms}; {control} − {method} log-loss {diff.text('.3f')}")
    if not conds:
        return not_run("no prior_shift runs of the claim's datasets")
    both = [a and b for a, b in conds.values()]
    every = [all(c[i] for c in conds.values()) for i in (0, 1)]
    complete = len(conds) == len(datasets)
    verdict = REPRODUCED if complete and all(both) else PARTLY if any(both) or any(every) else NOT
    return Verdict(
        {"value": "; ".join(parts), "conditions": {d: list(c) for d, c in conds.items()}, "n": int(n_min)},
        cap_for_one_seed(verdict, int(n_min)),
        "log-loss in nats, top-label ECE, means over runs of the mean over shifted test sets",
    )


def rule_vs_control(claim: dict, rows: list[dict]) -> Verdict:
    """Per dataset: the upper end of the paired interval of (method − control) log-loss <= ``margin``."""
    method, control = param(claim, "method", "lbi_kde"), param(claim, "control", "lr_adjusted")
    margin = float(param(claim, "margin", 0.05))
    oks, parts, n_min = [], [], math.inf
    for d in param(claim, "datasets", ["iris", "wine"]):
        runs = shift_rows(rows, d)
        if not runs:
            continue
        diff = difference_interval(
            [r[f"{method}_log_loss"] for r in runs], [r[f"{control}_log_loss"] for r in runs], paired=True
        )
        oks.append(diff.mean <= margin if len(runs) < 2 else diff.hi <= margin)
        n_min = min(n_min, len(runs))
        parts.append(f"{d}: {method} − {control} log-loss {diff.text('.3f')}")
    if not oks:
        return not_run("no prior_shift runs of the claim's datasets")
    verdict = (
        REPRODUCED
        if all(oks) and len(oks) == len(param(claim, "datasets", []))
        else PARTLY
        if any(oks)
        else NOT
    )
    return Verdict({"value": "; ".join(parts), "n": int(n_min)}, cap_for_one_seed(verdict, int(n_min)), "")


RULES = {
    "g_theory_mmi_fraction": rule_mmi_fraction,
    "g_theory_cm_monotone": rule_cm_monotone,
    "g_theory_cmem_vs_em": rule_cmem_vs_em,
    "g_theory_cmem_control": rule_cmem_control,
    "g_theory_prior_shift": rule_prior_shift,
    "g_theory_vs_control": rule_vs_control,
}
