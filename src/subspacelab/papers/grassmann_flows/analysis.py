"""The scaling measurement (evaluate stage): forward+backward seconds per sequence length for each timed
mixer, untrained models of the runs' size, batch 1, one CPU thread, best of ``repeats``. No checkpoint."""

from __future__ import annotations

import time

from subspacelab.papers.grassmann_flows.common import TIMED, lm_runs


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


def analyze(ctx) -> list[dict]:
    """One row per (mixer, sequence length): seconds, tokens/s, parameters."""
    import torch

    from subspacelab.models.lm import build_llama

    spec = ctx.spec
    if not lm_runs(ctx.rows):
        return []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = []
    try:
        for mixer in TIMED:
            c = ctx.config(f"model={'grassmann_lm' if mixer == 'grassmann' else 'llama'}")
            m, vocab = c.model, int(c.data.vocab_size)
            kw = {
                "hidden_size": m.hidden_size,
                "intermediate_size": m.intermediate_size,
                "num_layers": m.num_layers,
                "num_heads": m.num_heads,
                "max_seq_len": max(spec["seq_lens"]),
                "mixer": mixer,
            }
            if mixer == "grassmann":
                kw |= {"grassmann_rank": m.grassmann_rank, "grassmann_windows": tuple(m.grassmann_windows)}
            model = build_llama(0, vocab, **kw)
            params = sum(p.numel() for p in model.parameters())
            for seq_len in spec["seq_lens"]:
                sec = _time_step(model, int(seq_len), vocab, int(spec["repeats"]))
                out.append(
                    {
                        "kind": "analysis",
                        "mixer": mixer,
                        "seq_len": int(seq_len),
                        "seconds": sec,
                        "tokens_per_s": seq_len / sec,
                        "parameters": params,
                        "slope_from": int(spec["slope_from"]),
                    }
                )
    finally:
        torch.set_num_threads(threads)
    return out
