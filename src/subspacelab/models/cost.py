"""What one inference costs on the CPU: process seconds and peak activation memory.

``inference_cost(net, x)``: ``net(x)`` under no_grad in one thread, the best process-CPU seconds of 3 calls after a
warm-up (CPU time, so other load on a shared machine matters little), and the peak of the bytes held by the
tensors the call allocates (``torch``'s ``MemTracker``, which follows every tensor made while it is active; the
weights are taken off, the input may be counted). The peak is what a device without a caching allocator would
need beyond the weights; a fused kernel that never materialises an intermediate would not pay for it.
"""

from __future__ import annotations

import time

import torch
from torch import nn


def peak_activation_bytes(fn) -> int:
    """The largest number of bytes that the tensors allocated during ``fn()`` held at once (live tensors only; the
    tracker also counts the parameters and buffers of modules run inside, which are taken off; a tensor made before
    but read by an operation outside any module, such as the input, may be counted too)."""
    from torch.distributed._tools.mem_tracker import MemTracker, _MemRefType

    tracker = MemTracker()
    with tracker:
        fn()
    held = (_MemRefType.PARAM, _MemRefType.BUFFER)
    peak = tracker.get_tracker_snapshot("peak")
    return int(sum(kinds["Total"] - sum(kinds.get(k, 0) for k in held) for kinds in peak.values()))


def inference_cost(net: nn.Module, x: torch.Tensor, repeats: int = 3) -> dict:
    """{"seconds": best process seconds of one ``net(x)``, "peak_mb": its peak activation memory in MiB}."""

    @torch.no_grad()
    def call():
        net(x)

    call()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
    return {"seconds": round(best, 4), "peak_mb": round(peak_activation_bytes(call) / 2**20, 3)}
