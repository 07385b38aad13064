"""Analytic cost of a model: parameters, FLOPs and MACs of one forward pass.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts the matrix-multiply-like
ops (linear, matmul, convolution, attention) as 2 FLOPs per multiply-add: a ``Linear(n, m)`` on a batch
of b rows costs 2*b*n*m, a convolution 2 * B * H_out * W_out * C_out * (C_in / groups) * k_h * k_w.
Biases, normalisation, activations, pooling, softmax and other elementwise ops are not counted.
Papers (MobileNet, ULSAM) usually report multiply-adds ("MACs", often called FLOPs there), which are
``count_flops(...) // 2``: use ``count_macs`` when comparing with them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from subspacelab.models.build import count_parameters

__all__ = ["count_flops", "count_macs", "count_parameters"]


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs (2 per multiply-add) of one forward pass of ``model`` on a zero tensor of ``input_shape``
    (batch dimension included).

    The model runs in eval mode under ``no_grad`` (BatchNorm running statistics are left untouched) and
    its training flag is restored afterwards.  The input takes the device and dtype of the first parameter.
    """
    param = next(model.parameters(), None)
    x = torch.zeros(
        tuple(input_shape),
        device=None if param is None else param.device,
        dtype=None if param is None else param.dtype,
    )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass: ``count_flops // 2``."""
    return count_flops(model, input_shape) // 2
