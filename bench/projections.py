"""Step time and peak memory of random-subspace training vs plain training (``make bench``).

Step time: every configuration is timed in ONE process against its own plain baseline, one Adam step
of each in turn (A B B A ...) after a warm-up, and the slowdown is the median of the per-pair ratios
with a 95% order-statistic interval (bench/timing.py). Neighbouring steps see the same load, so the
ratios hold on a busy machine, where separate processes run one after the other gave 0.3x to 35x.
Peak memory is the one thing measured in separate processes (a process's peak RSS is its own).

Models: the paper's MNIST FC (D = 199,210) and a ~1M-parameter conv net (D = 941,526); d = 1,000 and
10,000; projections dense / sparse / Fastfood. Targets (issue 28): sparse and Fastfood at most 1.5x
plain on the FC and 1.3x on the conv net; Fastfood memory O(D). A dense P over the 1 GiB budget is
refused, as in training. Where a target is missed, torch.profiler's top kernels of that step say why.

    python bench/projections.py --out reports/intrinsic_dimension/perf.json [--readme README.md]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import interleaved_times, paired_ratio  # noqa: E402

MODELS = {"fc": ("MLP", "MNIST FC"), "convnet": ("ConvNet", "conv net")}  # classes of models.vision
TARGETS = {"fc": 1.5, "convnet": 1.3}  # the most a sparse or Fastfood step may take, x plain
CONFIGS = [(p, d) for d in (1000, 10000) for p in ("dense", "sparse", "fastfood")]
README_START, README_END = "<!-- perf:start -->", "<!-- perf:end -->"


def build(model: str, projection: str, d: int, device: str, batch: int):
    """(net, step function, D) for one configuration, or (refusal message, None, D)."""
    import torch

    from subspacelab.models import vision
    from subspacelab.subspace import ProjectionBudgetError, SubspaceModel, make_projection

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        base = getattr(vision, MODELS[model][0])()  # defaults: 784-200-200-10 FC, conv32-conv64-fc100
    D = sum(p.numel() for p in base.parameters())
    try:
        # As the intrinsic method builds it: seed 0, a dense P refused over 1 GiB.
        net = (
            base
            if projection == "plain"
            else SubspaceModel(base, make_projection(projection, D, d, 0, 2**30))
        )
    except ProjectionBudgetError as err:
        return str(err).split(" Use ")[0], None, D
    net = net.to(device)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], 1e-3)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)

    def step():
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()

    return net, step, D


def pairs_for(seconds_per_step: float, budget_s: float, lo: int = 30, hi: int = 400) -> int:
    """How many A/B pairs fit in ``budget_s``, kept within [lo, hi]."""
    return max(lo, min(hi, int(budget_s / max(seconds_per_step, 1e-6))))


def top_kernels(step, steps: int, k: int = 4) -> list[dict]:
    """The k ops with the most self CPU time per step under torch.profiler, and their share of it."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [
        {
            "op": e.key,
            "ms_per_step": e.self_cpu_time_total / 1000 / steps,
            "share": e.self_cpu_time_total / total,
        }
        for e in events[:k]
    ]


def time_model(model: str, args) -> list[dict]:
    """Every configuration of one model against plain, interleaved in this process."""
    import torch

    _, plain_step, D = build(model, "plain", 0, args.device, args.batch)
    rows = []
    for projection, d in CONFIGS:
        net, step, _ = build(model, projection, d, args.device, args.batch)
        row = {"model": model, "D": D, "projection": projection, "d": d}
        if step is None:
            rows.append(row | {"refused": net})
            print(json.dumps(rows[-1]), flush=True)
            continue
        quickest = min(_seconds(plain_step) + _seconds(step) for _ in range(3))  # also warms up
        # Short steps: each side of a pair is the fastest of several back-to-back steps, which on a busy
        # machine is the one no other process interrupted; long steps average interruptions out anyway.
        repeats = args.repeats if quickest < 0.05 else max(1, args.repeats // 3)
        pairs = pairs_for(quickest * repeats, args.seconds, lo=args.min_pairs)
        times = interleaved_times({"plain": plain_step, "cand": step}, pairs, args.warmup, repeats)
        wall, cpu = times["wall"], times["cpu"]
        ratio = paired_ratio(wall["plain"], wall["cand"])
        row |= {
            "plain_ms": 1000 * _median(wall["plain"]),
            "step_ms": 1000 * _median(wall["cand"]),
            "slowdown": ratio["ratio"],
            "slowdown_low": ratio["low"],
            "slowdown_high": ratio["high"],
            "slowdown_cpu_time": paired_ratio(cpu["plain"], cpu["cand"])["ratio"],
            "pairs": ratio["pairs"],
            "repeats": repeats,
        }
        if projection != "dense":
            target = TARGETS[model]
            row |= {"target": target, "meets_target": ratio["ratio"] <= target}
            if not row["meets_target"]:
                profile_steps = max(3, min(20, pairs // 10))
                row["over_target_by"] = ratio["ratio"] / target
                row["top_kernels"] = top_kernels(step, profile_steps)
                row["why"] = _why(row, net)
        rows.append(row)
        print(json.dumps(row), flush=True)
        del net, step
        gc.collect()
        torch.cuda.empty_cache() if args.device == "cuda" else None
    return rows


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _why(row: dict, net) -> str:
    """One sentence: how far over target, and which kernels take the time."""
    kernels = ", ".join(
        f"{k['op']} {k['ms_per_step']:.2f} ms ({100 * k['share']:.0f}%)" for k in row["top_kernels"]
    )
    text = (
        f"{row['slowdown']:.2f}x is {row['over_target_by']:.2f}x over the {row['target']}x target; "
        f"self CPU time per step: {kernels}"
    )
    P = net.projection
    if row["projection"] == "sparse":
        text += (
            f". P has {P.nnz:,} nonzeros, read twice per step (P z forward, P^T g backward): "
            "a gather-bound sparse matrix-vector product, not the multiply-adds, sets the cost"
        )
    else:
        text += (
            f". Two Walsh-Hadamard transforms of length L = {P.L:,} per step (one forward, one backward; "
            "the d-side transforms only touch a block of 2^ceil(log2 d)), GEMMs with +-1 factors of 16"
        )
    return text


def memory_one(model: str, projection: str, d: int, device: str, batch: int) -> dict:
    """Peak memory of one configuration, alone in this process (run through ``--memory``)."""
    import torch

    rss0 = _peak_rss_mib()
    net, step, D = build(model, projection, d, device, batch)
    if step is None:
        return {"refused": net}
    for _ in range(3):
        step()
    out = {"peak_rss_mib": _peak_rss_mib(), "rss_before_mib": rss0}
    if device == "cuda":
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _peak_rss_mib() -> float:
    """This process's peak resident memory (MiB): VmHWM, which starts afresh at exec, unlike ru_maxrss
    (Linux carries that over from the parent, so every child would report the big parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def measure_memory(rows: list[dict], args) -> None:
    """Peak memory of each configuration over plain, each in a fresh process."""
    key = "cuda_peak_mib" if args.device == "cuda" else "peak_rss_mib"
    plain = {model: _memory_subprocess(model, "plain", 0, args) for model in {r["model"] for r in rows}}
    for row in rows:
        if "refused" in row:
            continue
        mem = _memory_subprocess(row["model"], row["projection"], row["d"], args)
        row["peak_rss_mib"] = mem["peak_rss_mib"]
        row["extra_mib"] = mem[key] - plain[row["model"]][key]


def _memory_subprocess(model: str, projection: str, d: int, args) -> dict:
    cmd = [sys.executable, __file__, "--memory", model, projection, str(d), "--device", args.device]
    out = subprocess.run(cmd + ["--batch", str(args.batch)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(perf: dict) -> str:
    """The README / report table: ratio with its interval, target, memory."""
    lines = [
        "| model | D | projection | d | plain ms | step ms | × plain (95% interval) | target | extra peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in perf["results"]:
        name, d = MODELS[r["model"]][1], f"{r['d']:,}"
        proj = {"fastfood": "Fastfood"}.get(r["projection"], r["projection"])
        if "refused" in r:
            lines.append(f"| {name} | {r['D']:,} | {proj} | {d} | | | refused (over the 1 GiB budget) | | |")
            continue
        ratio = f"{r['slowdown']:.2f} ({r['slowdown_low']:.2f}–{r['slowdown_high']:.2f})"
        if r.get("meets_target") is False:
            ratio = f"**{ratio}**"
        target = f"≤ {r['target']}" if "target" in r else ""
        lines.append(
            f"| {name} | {r['D']:,} | {proj} | {d} | {r['plain_ms']:.1f} | {r['step_ms']:.1f} | {ratio} | "
            f"{target} | {r.get('extra_mib', float('nan')):.0f} |"
        )
    s = perf["summary"]
    lines += ["", f"Targets met: {s['targets_met']} of {s['targets']} (worst {s['worst_slowdown']:.2f}×)."]
    for r in perf["results"]:
        if "why" in r:
            lines.append(f"- {MODELS[r['model']][1]}, {r['projection']}, d = {r['d']:,}: {r['why']}.")
    return "\n".join(lines) + "\n\n" + perf["note"]


def update_readme(path: Path, table: str) -> bool:
    """Replace the text between the perf markers of the README with ``table``; False without markers."""
    text = path.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        return False
    path.write_text(pattern.sub(lambda _: f"{README_START}\n{table}\n{README_END}", text))
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="reports/intrinsic_dimension/perf.json")
    ap.add_argument(
        "--readme", default="README.md", help="README whose perf section to rewrite ('' for none)"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=6.0, help="time budget of each configuration's pairs")
    ap.add_argument("--min-pairs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=10, help="steps per side of a pair; the fastest counts")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the project's 2 cores)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--memory", nargs=3, metavar=("MODEL", "PROJECTION", "D"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    # Waiting OpenMP threads sleep instead of spinning: on a machine with more runnable threads than
    # cores, a spinning thread holds a core that the thread it waits for needs, and each parallel region
    # then costs a scheduler time slice (2-thread ratios of 15x instead of 3-4x under load 9). Set before
    # torch loads its OpenMP runtime; the memory subprocesses inherit it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch

    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    if args.memory:
        m, p, d = args.memory
        print(json.dumps(memory_one(m, p, int(d), args.device, args.batch)))
        return
    load_before = os.getloadavg()
    started = time.time()
    rows = [r for model in args.models for r in time_model(model, args)]
    load_after = os.getloadavg()
    measure_memory(rows, args)  # VmHWM: the timing process's own size does not leak into these
    judged = [r for r in rows if "meets_target" in r]
    summary = {
        "targets": len(judged),
        "targets_met": sum(r["meets_target"] for r in judged),
        "worst_slowdown": max((r["slowdown"] for r in judged), default=float("nan")),
    }
    note = (
        f"Measured {time.strftime('%Y-%m-%d', time.gmtime(started))} on {_cpu_name()} ({os.cpu_count()} cores), "
        f"{args.device}, torch {torch.__version__}, {args.threads} threads (OMP_WAIT_POLICY="
        f"{os.environ['OMP_WAIT_POLICY']}), batch {args.batch}: each "
        "configuration and plain training of the same model alternate Adam steps in one process; × plain is "
        "the median of the per-pair ratios (each side of a pair the fastest of its back-to-back steps) with a "
        "95% order-statistic interval; ms are medians. Load average "
        f"(1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after the timing. Extra peak memory: the "
        "process's peak RSS (CPU) or CUDA peak allocation over plain training, one process per configuration. "
        "Refused: a dense P over the 1 GiB budget (method.dense_max_mib). In the JSON, slowdown_cpu_time is the "
        "same median over the process's CPU time (all threads, OpenMP spin-waits included)."
    )
    perf = {
        "results": rows,
        "summary": summary,
        "load_average_1min": {"before": load_before[0], "after": load_after[0]},
        "note": note,
    }
    perf["markdown"] = markdown(perf)
    Path(args.out).write_text(json.dumps(perf, indent=2) + "\n")
    print(perf["markdown"])
    if args.readme and not update_readme(Path(args.readme), perf["markdown"]):
        print(
            f"{args.readme}: no {README_START} ... {README_END} section; README not updated", file=sys.stderr
        )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
