"""CoSO's optimizer-step overhead vs AdamW and galore-torch's GaLoreAdamW, one CPU thread (``make bench``).

One optimizer step (gradient already in ``p.grad``) on a single m x n weight; CoSO with an empty history and with
a history of ``k`` columns; update_gap 1 (CoSO's CIFAR/ImageNet-R configs: an SVD every step) and 20 (DomainNet).
GaLore uses the same rank and gap with proj_type 'left' (CoSO's side). No target: the ratios are reported.
Times are best process-CPU seconds per step over repeats (bench/timing.py).

    python bench/coso.py --out bench/results/coso.json
"""

from __future__ import annotations

import argparse
import json
import platform

import torch
from timing import best_cpu_seconds  # bench/timing.py (scripts run from bench/)

from subspacelab.continual.coso import CoSO


def _step_time(make_opt, m: int, n: int, steps: int = 20) -> float:
    """CPU seconds per step, averaged over ``steps`` (a multiple of every update_gap timed, so each timed block
    holds the same number of SVD steps)."""
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(m, n) * 0.02)
    opt = make_opt(p)
    g = torch.randn(m, n)

    def one():
        for _ in range(steps):
            p.grad = g.clone()
            opt.step()

    return best_cpu_seconds(one, repeats=3) / steps


def _coso_with_history(k: int, **kw):
    def make(p):
        opt = CoSO([p], **kw)
        st = opt._state(p)
        st["history"] = torch.linalg.qr(torch.randn(p.shape[0], k))[0]
        return opt

    return make


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench/results/coso.json")
    ap.add_argument("--sizes", default="256,512,768")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--sketch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from galore_torch import GaLoreAdamW

    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for gap in (1, 20):
            r = {"m": size, "n": size, "rank": args.rank, "sketch": args.sketch, "update_gap": gap}
            r["adamw_s"] = _step_time(lambda p: torch.optim.AdamW([p], lr=1e-3, weight_decay=0.0), size, size)
            r["galore_s"] = _step_time(
                lambda p, gap=gap: GaLoreAdamW(
                    [
                        {
                            "params": [p],
                            "rank": args.rank,
                            "update_proj_gap": gap,
                            "scale": 1.0,
                            "proj_type": "left",
                        }
                    ],
                    lr=1e-3,
                    weight_decay=0.0,
                    no_deprecation_warning=True,
                ),
                size,
                size,
            )
            kw = dict(lr=1e-3, proj_rank=args.rank, sketch_rank=args.sketch, update_gap=gap)
            r["coso_s"] = _step_time(lambda p, kw=kw: CoSO([p], **kw), size, size)
            r["coso_history_s"] = _step_time(_coso_with_history(size // 4, **kw), size, size)
            r["history_cols"] = size // 4
            for k in ("galore_s", "coso_s", "coso_history_s"):
                r[k.replace("_s", "_vs_adamw")] = r[k] / r["adamw_s"]
            r["coso_vs_galore"] = r["coso_s"] / r["galore_s"]
            print(
                json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in r.items()}), flush=True
            )
            rows.append(r)
    out = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": 1,
        "rows": rows,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
