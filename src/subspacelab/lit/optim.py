"""The learning-rate schedule the image-to-image modules share (segmentation, super-resolution): one cosine from
the optimizer's lr down to ``floor`` x lr over the run's optimizer steps, stepped every step, in the dictionary
``configure_optimizers`` returns."""

from __future__ import annotations

import torch

from subspacelab.lowrank.schedules import cosine_with_min_lr


def with_stepwise_cosine(optimizer: torch.optim.Optimizer, total_steps: int, floor: float) -> dict:
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_with_min_lr(step, total_steps, 0, floor)
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
