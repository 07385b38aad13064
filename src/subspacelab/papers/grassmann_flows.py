"""Grassmann flows (Zhang 2025): derive rules, analysis, table and plots of the report.

The runs are language-model training runs of the same tiny LLaMA with two token mixers (``model=llama``:
self-attention; ``model=grassmann_lm``: the causal Grassmann mixing layer). ``analyze`` (evaluate stage)
times forward+backward of untrained models of each mixer over sequence lengths, the paper's linear-scaling
claim; it needs no checkpoint.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

MIXERS = ("attention", "grassmann")
LABELS = {"attention": "self-attention (Transformer)", "grassmann": "Grassmann mixing"}

NOTES = [
    "Both models are the same LLaMA (RMSNorm, SwiGLU MLP, hidden 128, 4 layers) with only the token mixer "
    "swapped; the paper compares GPT-style models (LayerNorm, GELU MLP, learned absolute positions) of 13-18M "
    "parameters. Our attention model has rotary positions; the Grassmann model's only positional signal is its "
    "window offsets.",
    "Corpus: the Python standard-library sources with a 1,024-token BPE, not WikiText-2. One optimiser setting for "
    "both models (AdamW 1e-3, cosine), not tuned for either.",
    "Scaling: forward+backward wall time of untrained models at batch 1 on one CPU thread, best of a few repeats; "
    "PyTorch's fused CPU attention never materialises the L x L score matrix, so memory is not compared here.",
]


def _mixer(row: dict) -> str:
    return "grassmann" if str(row.get("model", "")).startswith("grassmann") else "attention"


def _runs(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("val_ppl") is not None]


def _analysis(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("kind") == "analysis"]


def _time_step(model, seq_len: int, vocab: int, repeats: int) -> float:
    import torch
    from torch.nn import functional as F

    x = torch.randint(0, vocab, (1, seq_len), generator=torch.Generator().manual_seed(0))
    best = float("inf")
    for i in range(repeats + 1):  # the first pass warms up
        t0 = time.perf_counter()
        logits = model(input_ids=x).logits
        F.cross_entropy(logits.reshape(-1, vocab), x.reshape(-1)).backward()
        model.zero_grad(set_to_none=True)
        if i:
            best = min(best, time.perf_counter() - t0)
    return best


def analyze(rows: list[dict], runs_dir: Path, scale: str) -> list[dict]:
    """Forward+backward seconds per sequence length for each mixer (untrained models of the runs' size)."""
    import torch
    from omegaconf import OmegaConf

    from subspacelab.config import compose
    from subspacelab.models.lm import build_llama

    contract = compose(["paper=grassmann_flows", f"scale={scale}"]).paper
    spec = OmegaConf.merge(contract.analysis, contract.scales[scale].get("analysis") or {})
    runs = _runs(rows)
    if not runs:
        return []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = []
    try:
        for mixer in MIXERS:
            model_cfg = "grassmann_lm" if mixer == "grassmann" else "llama"
            c = compose(["paper=grassmann_flows", f"scale={scale}", f"model={model_cfg}"])
            m, vocab = c.model, int(c.data.vocab_size)
            kw = {"hidden_size": m.hidden_size, "intermediate_size": m.intermediate_size, "num_layers": m.num_layers,
                  "num_heads": m.num_heads, "max_seq_len": max(spec.seq_lens), "mixer": mixer}
            if mixer == "grassmann":
                kw |= {"grassmann_rank": m.grassmann_rank, "grassmann_windows": tuple(m.grassmann_windows)}
            model = build_llama(0, vocab, **kw)
            params = sum(p.numel() for p in model.parameters())
            for seq_len in spec.seq_lens:
                sec = _time_step(model, int(seq_len), vocab, int(spec.repeats))
                out.append({"kind": "analysis", "mixer": mixer, "seq_len": int(seq_len), "seconds": sec,
                            "tokens_per_s": seq_len / sec, "parameters": params,
                            "slope_from": int(spec.slope_from)})
    finally:
        torch.set_num_threads(threads)
    return out


def _slope(points: list[tuple[int, float]]) -> float:
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def slopes(rows: list[dict]) -> dict[str, float]:
    """Log-log slope of time against L per mixer, over the lengths from the analysis' ``slope_from`` on."""
    a = _analysis(rows)
    lo = min((r["slope_from"] for r in a), default=0)
    return {m: _slope([(r["seq_len"], r["seconds"]) for r in a if r["mixer"] == m and r["seq_len"] >= lo])
            for m in MIXERS if sum(1 for r in a if r["mixer"] == m and r["seq_len"] >= lo) >= 2}


def _ppl(rows: list[dict], mixer: str) -> list[float]:
    return [r["val_ppl"] for r in _runs(rows) if _mixer(r) == mixer]


def _ppl_gap(claim: dict, rows: list[dict]):
    dv = claim["derive"]
    att, gra = _ppl(rows, "attention"), _ppl(rows, "grassmann")
    if not att or not gra:
        return {"value": None}, "not_run", "needs runs of both mixers"
    gap = statistics.fmean(gra) / statistics.fmean(att) - 1
    per_seed = {}
    for r in _runs(rows):
        per_seed.setdefault(r["seed"], {})[_mixer(r)] = r["val_ppl"]
    seed_gaps = sorted(v["grassmann"] / v["attention"] - 1 for v in per_seed.values() if len(v) == 2)
    verdict = "reproduced" if gap <= dv["reproduced_below"] else "partly" if gap <= dv["partly_below"] \
        else "not_reproduced"
    supports = "the paper (<= 15%)" if gap <= 0.15 else "the independent reproduction (>= 30%)" if gap >= 0.30 \
        else "neither clearly (between 15% and 30%)"
    value = (f"{gap:+.1%} (Grassmann {statistics.fmean(gra):.2f} vs attention {statistics.fmean(att):.2f}; "
             f"per seed {', '.join(f'{g:+.1%}' for g in seed_gaps)})")
    return {"value": value, "gap": gap, "seed_gaps": seed_gaps}, verdict, f"our measurement supports {supports}"


def _scaling_slope(claim: dict, rows: list[dict]):
    dv = claim["derive"]
    s = slopes(rows)
    if set(s) != set(MIXERS):
        return {"value": None}, "not_run", "no scaling measurement"
    g, a = s["grassmann"], s["attention"]
    verdict = "reproduced" if g <= dv["linear_max"] and g < a else "partly" if g <= dv["partly_max"] \
        else "not_reproduced"
    value = f"time ~ L^{g:.2f} (Grassmann) vs L^{a:.2f} (attention)"
    return {"value": value, "grassmann_slope": g, "attention_slope": a}, verdict, \
        "log-log slope of forward+backward time, batch 1, one CPU thread"


def _not_run(claim: dict, rows: list[dict]):
    return {"value": None}, "not_run", "needs SNLI and a pre-trained DistilBERT"


RULES = {"ppl_gap": _ppl_gap, "scaling_slope": _scaling_slope, "not_run": _not_run}


def tables(rows: list[dict]) -> str:
    runs = _runs(rows)
    if not runs:
        return ""
    lines = ["| mixer | val ppl (mean ± sd) | seeds | parameters | step time (s) |", "|---|---|---|---|---|"]
    for m in MIXERS:
        rs = [r for r in runs if _mixer(r) == m]
        if not rs:
            continue
        ppl = [r["val_ppl"] for r in rs]
        sd = f" ± {statistics.stdev(ppl):.2f}" if len(ppl) > 1 else ""
        lines.append(f"| {LABELS[m]} | {statistics.fmean(ppl):.2f}{sd} | {len(rs)} | {rs[0]['D']:,} | "
                     f"{statistics.fmean(r['step_seconds'] for r in rs):.3f} |")
    a = _analysis(rows)
    if a:
        lens = sorted({r["seq_len"] for r in a})
        lines += ["", "| forward+backward seconds (batch 1, 1 thread) | " + " | ".join(f"L={n}" for n in lens) + " |",
                  "|---|" + "---|" * len(lens)]
        for m in MIXERS:
            t = {r["seq_len"]: r["seconds"] for r in a if r["mixer"] == m}
            lines.append(f"| {LABELS[m]} | " + " | ".join(f"{t[n]:.3f}" for n in lens) + " |")
    return "\n".join(lines)


def plots(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = _runs(rows)
    if not runs:
        return []
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2))
    colors = {"attention": "tab:blue", "grassmann": "tab:red"}
    for r in sorted(runs, key=lambda r: (_mixer(r), r["seed"])):
        if r["curve"]:
            steps, losses = zip(*r["curve"], strict=True)
            ax.plot(steps, [math.exp(min(x, 12)) for x in losses], color=colors[_mixer(r)], alpha=0.8,
                    label=f"{LABELS[_mixer(r)]} (seed {r['seed']})")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("validation perplexity")
    ax.set_title("Same LM, two token mixers")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    a = _analysis(rows)
    for m in MIXERS:
        pts = sorted((r["seq_len"], r["seconds"]) for r in a if r["mixer"] == m)
        if pts:
            bx.loglog(*zip(*pts, strict=True), "o-", color=colors[m], label=LABELS[m])
    if a:
        n0 = min(r["seq_len"] for r in a)
        t0 = min(r["seconds"] for r in a if r["seq_len"] == n0)
        ns = sorted({r["seq_len"] for r in a})
        bx.loglog(ns, [t0 * n / n0 for n in ns], "k:", label="linear")
        bx.loglog(ns, [t0 * (n / n0) ** 2 for n in ns], "k--", alpha=0.4, label="quadratic")
        bx.set_xticks(ns, [str(n) for n in ns])
        bx.minorticks_off()
        bx.legend(fontsize=8)
    bx.set_xlabel("sequence length L")
    bx.set_ylabel("forward+backward seconds")
    bx.set_title("Cost against sequence length")
    bx.grid(alpha=0.3, which="both")
    fig.tight_layout()
    out = Path(out_dir) / "grassmann_flows.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return [out]
