"""Learning-rate multipliers (``LambdaLR`` lambdas) used by the low-rank pre-training papers.

- ``cosine_with_min_lr``: linear warm-up, then cosine decay to ``min_lr_ratio`` of the peak (SwitchLoRA's
  and GaLore's ``cosine_with_min_lr``, min ratio 0.1).
- ``cosine_with_restarts``: ReLoRA's jagged schedule: the same cosine envelope, but after every restart
  (every ``restart_every`` steps) the rate drops to zero and warms up again over ``restart_warmup_steps``
  to where the envelope is at the end of that warm-up (Lialin et al. 2023, ``cosine_restarts``).
"""

from __future__ import annotations

import math


def _cosine(progress: float, min_lr_ratio: float) -> float:
    progress = min(max(progress, 0.0), 1.0)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine_with_min_lr(step: int, total_steps: int, warmup_steps: int, min_lr_ratio: float = 0.1) -> float:
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return _cosine((step - warmup_steps) / max(1, total_steps - warmup_steps), min_lr_ratio)


def cosine_with_restarts(
    step: int,
    total_steps: int,
    warmup_steps: int,
    restart_every: int,
    restart_warmup_steps: int,
    min_lr_ratio: float = 0.1,
) -> float:
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    since_restart, restarts = step % restart_every, step // restart_every
    if restarts > 0 and since_restart < restart_warmup_steps:
        end_of_warmup = restarts * restart_every + restart_warmup_steps
        peak = _cosine((end_of_warmup - warmup_steps) / max(1, total_steps - warmup_steps), min_lr_ratio)
        return since_restart / max(1, restart_warmup_steps) * peak
    return _cosine((step - warmup_steps) / max(1, total_steps - warmup_steps), min_lr_ratio)
