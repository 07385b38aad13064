"""Step time and peak memory of random-subspace training vs plain training (``make bench``).

Each configuration runs in its own process, so peak resident memory is its own. Models: the
paper's MNIST FC (D = 199,210) and a ~1M-parameter conv net (D = 941,526); d = 1,000 and 10,000;
projections dense / sparse / Fastfood. Targets (issue: the spine): Fastfood and sparse within 3x of
plain step time; Fastfood memory O(D). A dense P over the 1 GiB budget is refused, as in training.

    python bench/projections.py --out reports/intrinsic_dimension/perf.json [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

MODELS = {"fc": ("mlp", {}), "convnet": ("convnet", {})}


def one(model: str, projection: str, d: int, device: str, steps: int, batch: int) -> dict:
    import torch

    from subspacelab.methods import apply_method
    from subspacelab.models import build_model
    from subspacelab.pipeline.runinfo import peak_rss_mib
    from subspacelab.subspace import ProjectionBudgetError

    torch.set_num_threads(2) if device == "cpu" else None
    arch, kw = MODELS[model]
    base = build_model(arch, 0, **kw)
    D = sum(p.numel() for p in base.parameters())
    rss0 = peak_rss_mib()
    try:
        net = base if projection == "plain" else apply_method("intrinsic", base, d=d, projection=projection)
    except ProjectionBudgetError as err:
        return {
            "model": model,
            "D": D,
            "projection": projection,
            "d": d,
            "refused": str(err).split(" Use ")[0],
        }
    net = net.to(device)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], 1e-3)
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    times = []
    for i in range(steps + 5):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t)
    out = {
        "model": model,
        "D": D,
        "projection": projection,
        "d": d if projection != "plain" else None,
        "step_ms": 1000 * statistics.median(times),
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": rss0,
        "device": device,
    }
    if device == "cuda":
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="reports/intrinsic_dimension/perf.json")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--one", nargs=3, metavar=("MODEL", "PROJECTION", "D"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        m, p, d = args.one
        print(json.dumps(one(m, p, int(d), args.device, args.steps, args.batch)))
        return
    results = []
    for model in MODELS:
        configs = [("plain", 0)] + [(p, d) for d in (1000, 10000) for p in ("dense", "sparse", "fastfood")]
        plain = None
        for proj, d in configs:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                model,
                proj,
                str(d),
                "--device",
                args.device,
                "--steps",
                str(args.steps),
                "--batch",
                str(args.batch),
            ]
            r = json.loads(
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            if proj == "plain":
                plain = r
            elif "step_ms" in r:
                r["slowdown"] = r["step_ms"] / plain["step_ms"]
                key = "cuda_peak_mib" if args.device == "cuda" else "peak_rss_mib"
                r["extra_mib"] = r[key] - plain[key]
            print(json.dumps(r), flush=True)
            results.append(r)
    ok = [r for r in results if r.get("projection") in ("sparse", "fastfood") and "slowdown" in r]
    summary = {
        "fastfood_and_sparse_within_3x": all(r["slowdown"] <= 3 for r in ok),
        "worst_slowdown": max((r["slowdown"] for r in ok), default=None),
    }
    note = (
        f"Measured on {platform.processor() or platform.machine()}, {args.device}, batch {args.batch}, "
        f"median of {args.steps} Adam steps after 5 warm-up steps; peak memory is the process's peak RSS "
        "(CPU) or CUDA peak allocation, over plain training of the same model. Refused: a dense P over "
        "the 1 GiB budget (method.dense_max_mib)."
    )
    with open(args.out, "w") as f:
        json.dump({"results": results, "summary": summary, "note": note}, f, indent=2)
        f.write("\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
