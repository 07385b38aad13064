"""Derive rules for the SwitchLoRA claims. Perplexity differences between methods are judged with the Welch 95%
interval of the difference over each method's seeds (single-process runs), read as a ratio to the reference's
mean perplexity; byte counts are exact (no seed noise)."""

from __future__ import annotations

import math
import statistics

from subspacelab.papers.switchlora.common import LABELS, per_seed, single_process, with_device_bytes
from subspacelab.reporting.stats import Interval, difference_interval, t_interval
from subspacelab.reporting.verdict import Verdict, cap_for_one_seed, holds, not_run, param


def _missing(*methods: str) -> Verdict:
    return not_run(f"no runs of {', '.join(methods)} at this scale")


def _ratio_interval(a: list[float], b: list[float]) -> tuple[Interval, float, float, float]:
    """The Welch interval of mean(a) - mean(b) and, divided by mean(b), the mean ratio and its interval's ends."""
    iv, ref = difference_interval(a, b), statistics.fmean(b)
    return iv, statistics.fmean(a) / ref, 1 + iv.lo / ref, 1 + iv.hi / ref


def _ratio_text(name: str, a: list[float], ref_name: str, b: list[float]) -> str:
    iv, ratio, lo, hi = _ratio_interval(a, b)
    interval = "no interval" if math.isnan(iv.lo) else f"95% Welch interval of the ratio [{lo:.3f}, {hi:.3f}]"
    return (
        f"{name} {statistics.fmean(a):.2f} vs {ref_name} {statistics.fmean(b):.2f}: ratio {ratio:.3f}, "
        f"{interval} (n = {len(a)} vs {len(b)} seeds)"
    )


def rule_ppl_ratio(claim: dict, rows: list[dict]) -> Verdict:
    """ppl(method) / ppl(reference): reproduced when the upper end of the interval is at most
    ``reproduced_below``; partly when the mean ratio is at most ``partly_below``; else not reproduced."""
    method, reference = param(claim, "method"), param(claim, "reference")
    rows = single_process(rows)
    a, b = per_seed(rows, "val_ppl", method), per_seed(rows, "val_ppl", reference)
    if not a or not b:
        return _missing(method, reference)
    iv, ratio, lo, hi = _ratio_interval(a, b)
    shown = not math.isnan(hi) and hi <= float(param(claim, "reproduced_below"))
    verdict = cap_for_one_seed(
        holds(shown, ratio <= float(param(claim, "partly_below"))), min(len(a), len(b))
    )
    measured = {
        "value": _ratio_text(LABELS[method], a, LABELS[reference], b),
        "ratio": ratio,
        "ratio_interval": [lo, hi],
        "difference": iv.as_dict(),
        method: statistics.fmean(a),
        reference: statistics.fmean(b),
    }
    return Verdict(measured, verdict, "validation perplexity of single-process runs")


def rule_ppl_worse(claim: dict, rows: list[dict]) -> Verdict:
    """Every method in ``methods`` worse than ``reference``: reproduced when the lower end of each interval of
    the ratio is at least ``clearly_above``; partly when every mean ratio is above 1; else not reproduced."""
    reference, methods = param(claim, "reference"), list(param(claim, "methods"))
    rows = single_process(rows)
    b = per_seed(rows, "val_ppl", reference)
    runs = {m: per_seed(rows, "val_ppl", m) for m in methods}
    if not b or not all(runs.values()):
        return _missing(reference, *methods)
    fits = {m: _ratio_interval(a, b) for m, a in runs.items()}
    clearly = all(
        not math.isnan(lo) and lo >= float(param(claim, "clearly_above")) for _, _, lo, _ in fits.values()
    )
    above = all(ratio > 1 for _, ratio, _, _ in fits.values())
    n = min(len(b), *(len(a) for a in runs.values()))
    value = "; ".join(_ratio_text(LABELS[m], a, LABELS[reference], b) for m, a in runs.items())
    return Verdict(
        {
            "value": value,
            "ratios": {m: f[1] for m, f in fits.items()},
            "ratio_intervals": {m: [f[2], f[3]] for m, f in fits.items()},
        },
        cap_for_one_seed(holds(clearly, above), n),
        "validation perplexity of single-process runs",
    )


def rule_delta_rank(claim: dict, rows: list[dict]) -> Verdict:
    """SwitchLoRA's update has effective rank far above r, LoRA's numerical rank stays <= r: reproduced when the
    lower end of the t-interval of SwitchLoRA's effective rank over seeds is at least ``far_above`` x r and
    LoRA's largest numerical rank is <= r; partly when the mean is above r and LoRA's rank <= r."""
    method, lora = param(claim, "method"), param(claim, "lora")
    rows = single_process(rows)
    sw = [r for r in rows if r["method"] == method]
    lo = [r for r in rows if r["method"] == lora]
    if not sw or not lo:
        return _missing(method, lora)
    r = sw[0]["r"]
    eff = t_interval([x["delta_effective_rank_mean"] for x in sw])
    eff_lo = statistics.fmean(x["delta_effective_rank_mean"] for x in lo)
    max_rank_lo = max(v["rank"] for x in lo for v in x["delta_ranks"].values())
    full = per_seed(rows, "delta_effective_rank_mean", "full")
    eff_full = statistics.fmean(full) if full else float("nan")
    far = eff.n >= 2 and eff.lo >= float(param(claim, "far_above")) * r
    verdict = cap_for_one_seed(holds(far and max_rank_lo <= r, eff.mean > r and max_rank_lo <= r), eff.n)
    value = (
        f"effective rank of W_T - W_0: SwitchLoRA {eff.text('.1f')}, LoRA {eff_lo:.1f} (largest numerical "
        f"rank {max_rank_lo}), full-rank {eff_full:.1f}; r = {r}"
    )
    return Verdict(
        {
            "value": value,
            "switchlora": eff.mean,
            "switchlora_interval": eff.as_dict(),
            "lora": eff_lo,
            "lora_max_rank": max_rank_lo,
            "full": eff_full,
            "r": r,
        },
        verdict,
        "LoRA's rank <= r holds by construction (its update is B A on the target layers)",
    )


def rule_reduction(claim: dict, rows: list[dict]) -> Verdict:
    """1 - metric(method) / metric(reference): reproduced within ``reproduced_within`` of the paper's
    reduction; partly for a reduction of another size; else not reproduced. Byte counts are exact."""
    metric, method, reference = param(claim, "metric"), param(claim, "method"), param(claim, "reference")
    ws = int(param(claim, "world_size", 1))
    rows = [with_device_bytes(r) for r in rows]
    a, b = per_seed(rows, metric, method, ws), per_seed(rows, metric, reference, ws)
    if not a or not b:
        return _missing(method, reference)
    a_mean, b_mean = statistics.fmean(a), statistics.fmean(b)
    reduction = 1 - a_mean / b_mean
    verdict = holds(
        abs(reduction - float(param(claim, "paper"))) <= float(param(claim, "reproduced_within")),
        reduction > 0,
    )
    value = (
        f"{a_mean / b_mean - 1:+.0%} ({LABELS[method]} {a_mean / 2**20:.2f} MiB vs {LABELS[reference]} "
        f"{b_mean / 2**20:.2f} MiB)"
    )
    note = "exact byte counts (no seed noise)"
    if metric == "training_state_bytes":
        off = {m: per_seed(rows, "device_state_bytes", m, ws) for m in (method, reference)}
        if all(off.values()):
            ratio = statistics.fmean(off[method]) / statistics.fmean(off[reference])
            note += (
                f"; with the candidate pools offloaded to host memory, as the official code does, "
                f"{ratio - 1:+.0%} (activations not counted)"
            )
    return Verdict(
        {"value": value, "reduction": reduction, "method_bytes": a_mean, "reference_bytes": b_mean},
        verdict,
        note,
    )


def rule_not_implemented(claim: dict, rows: list[dict]) -> Verdict:
    return not_run("not implemented: needs GLUE fine-tuning of a paper-scale pre-trained model")


RULES = {
    "ppl_ratio": rule_ppl_ratio,
    "ppl_worse": rule_ppl_worse,
    "delta_rank": rule_delta_rank,
    "reduction": rule_reduction,
    "not_run": rule_not_implemented,
}
