"""Grassmann mixing vs self-attention: forward+backward cost against sequence length (``make bench``).

The grassmann_flows paper claims a cost linear in the sequence length L, against attention's quadratic one.
Both models are the cpu-scale LLaMA of its contract (hidden 128, 4 layers, vocabulary 1,024), untrained,
batch 1, one CPU thread; times are best process-CPU seconds after a warm-up. Memory is not compared: PyTorch's
fused CPU attention never materialises the L x L matrix (a GPU peak-memory measurement would be needed).

    python bench/grassmann.py --out bench/results/grassmann_scaling.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform

import torch
from timing import best_cpu_seconds  # bench/timing.py (scripts run from bench/)
from torch.nn import functional as F

from subspacelab.models.lm import build_llama

SEQ_LENS = (128, 256, 512, 1024, 2048, 4096)


def slope(lens, secs) -> float:
    xs, ys = [math.log(x) for x in lens], [math.log(y) for y in secs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="bench/results/grassmann_scaling.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    vocab, out = 1024, {}
    for mixer in ("attention", "grassmann"):
        model = build_llama(
            0,
            vocab,
            hidden_size=128,
            intermediate_size=344,
            num_layers=4,
            num_heads=4,
            max_seq_len=max(SEQ_LENS),
            mixer=mixer,
        )

        def step(x, model=model):
            F.cross_entropy(model(input_ids=x).logits.reshape(-1, vocab), x.reshape(-1)).backward()
            model.zero_grad(set_to_none=True)

        secs = [best_cpu_seconds(lambda n=n: step(torch.randint(0, vocab, (1, n)))) for n in SEQ_LENS]
        tail = [i for i, n in enumerate(SEQ_LENS) if n >= 512]
        out[mixer] = {
            "seconds": dict(zip(map(str, SEQ_LENS), secs, strict=True)),
            "tokens_per_s": {str(n): n / s for n, s in zip(SEQ_LENS, secs, strict=True)},
            "slope_from_512": slope([SEQ_LENS[i] for i in tail], [secs[i] for i in tail]),
        }
        print(
            f"{mixer:10s} "
            + "  ".join(f"L={n}: {s:.3f}s" for n, s in zip(SEQ_LENS, secs, strict=True))
            + f"  slope {out[mixer]['slope_from_512']:.2f}"
        )
    result = {
        "mixers": out,
        "machine": platform.machine(),
        "torch": torch.__version__,
        "note": "forward+backward, batch 1, one thread, best process-CPU seconds; untrained models",
    }
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
