"""What the low-rank pre-training papers measure besides perplexity: the effective rank of the learned
update, the bytes an optimizer keeps, and the bytes DDP all-reduces per step."""

from __future__ import annotations

import torch
from torch import nn


def effective_rank(matrix: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values) (Roy & Vetterli 2007): between 1 and min(m, n);
    equals k for a matrix with k equal non-zero singular values."""
    s = torch.linalg.svdvals(matrix.detach().double())
    s = s[s > s.max() * 1e-12] if s.numel() and s.max() > 0 else s[:0]
    if s.numel() == 0:
        return 0.0
    p = s / s.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def numerical_rank(matrix: torch.Tensor, rtol: float = 1e-6) -> int:
    return int(torch.linalg.matrix_rank(matrix.detach().double(), rtol=rtol))


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held in the optimizer's state: every tensor in ``optimizer.state`` (moments, per-vector
    steps) and tensors hung on state objects (GaLore's projection matrices)."""
    total, seen = 0, set()

    def add(t):
        nonlocal total
        if isinstance(t, torch.Tensor) and id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()

    for state in optimizer.state.values():
        for v in state.values():
            add(v)
            for attr in (
                vars(v).values() if hasattr(v, "__dict__") and not isinstance(v, torch.Tensor) else ()
            ):
                add(attr)
    return total


def trainable_bytes(model: nn.Module) -> int:
    """Bytes of the trainable parameters: what DDP all-reduces (their gradients) every optimizer step."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def training_state_bytes(model: nn.Module, optimizer_bytes: int) -> int:
    """Bytes a training step keeps besides activations: every parameter and buffer (frozen weights and
    SwitchLoRA's candidate pools included), one gradient per trainable parameter, and the optimizer state."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors) + trainable_bytes(model) + int(optimizer_bytes)


class AllReduceCounter:
    """A DDP communication hook that counts the bytes it all-reduces, then does the default all-reduce.

    ``ddp_model.register_comm_hook(counter, AllReduceCounter.hook)``; ``counter.bytes`` / ``counter.calls``.
    """

    def __init__(self, process_group=None):
        self.process_group = process_group
        self.bytes = 0
        self.calls = 0

    @staticmethod
    def hook(state: AllReduceCounter, bucket):
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        buf = bucket.buffer()
        state.bytes += buf.numel() * buf.element_size()
        state.calls += 1
        return default_hooks.allreduce_hook(state.process_group, bucket)
