"""AdamW with a step counter per LoRA vector (SwitchLoRA's ``StepAdamW``, asfsdsf/SwitchLoRA optimizer.py).

For a parameter p with gradient g, one step does (decoupled weight decay, then Adam):

    t <- t + 1
    p <- p (1 - lr wd)
    m <- b1 m + (1 - b1) g,      v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

In torch's AdamW ``t`` is one scalar per tensor. Here a param group may set ``vector_step``:

- ``"rows"`` (LoRA A, r x n): ``t`` has shape (r, 1), one counter per row;
- ``"cols"`` (LoRA B, m x r): ``t`` has shape (1, r), one counter per column.

The bias corrections then broadcast per vector. When SwitchLoRA switches a vector it zeroes that
vector's m, v and t, so the vector restarts Adam's warm-up while the others keep their state.
Groups without ``vector_step`` follow torch's single-tensor AdamW step for step.
The update is a plain loop over parameters: no foreach / fused / capturable paths.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from subspacelab.lowrank.lora import lora_layers

VECTOR_STEP_MODES = (None, "rows", "cols")


class StepAdamW(torch.optim.AdamW):
    """``torch.optim.AdamW`` whose groups may carry ``vector_step="rows"`` / ``"cols"`` (see module doc)."""

    def _new_state(self, p: torch.Tensor, mode: str | None, amsgrad: bool) -> dict[str, torch.Tensor]:
        if mode is None:  # as torch: a float32 scalar step on the CPU
            step = torch.tensor(0.0, dtype=torch.float32)
        elif mode == "rows":
            step = torch.zeros(p.shape[0], 1, dtype=torch.float32, device=p.device)
        else:
            step = torch.zeros(1, p.shape[1], dtype=torch.float32, device=p.device)
        state = {
            "step": step,
            "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
        }
        if amsgrad:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            mode = group.get("vector_step")
            if mode not in VECTOR_STEP_MODES:
                raise ValueError(f"vector_step={mode!r}; valid: None, 'rows', 'cols'")
            if group.get("fused") or group.get("capturable") or group.get("differentiable"):
                raise NotImplementedError("StepAdamW implements the plain (non fused/capturable) update only")
            beta1, beta2 = (float(b) for b in group["betas"])
            lr, wd, eps = float(group["lr"]), float(group["weight_decay"]), float(group["eps"])
            amsgrad, maximize = bool(group["amsgrad"]), bool(group["maximize"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse or torch.is_complex(p):
                    raise NotImplementedError("StepAdamW supports dense real parameters only")
                if mode is not None and p.dim() != 2:
                    raise ValueError(f"vector_step={mode!r} needs 2-D parameters, got shape {tuple(p.shape)}")
                grad = -p.grad if maximize else p.grad
                state = self.state[p]
                if len(state) == 0:
                    state.update(self._new_state(p, mode, amsgrad))
                if mode is not None and state["step"].device != p.device:
                    state["step"] = state["step"].to(p.device)
                step_t, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]

                step_t += 1
                if wd != 0:
                    p.mul_(1 - lr * wd)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                if amsgrad:
                    torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                    second = state["max_exp_avg_sq"]
                else:
                    second = exp_avg_sq

                if mode is None:
                    t = float(step_t)
                    bias1, bias2 = 1 - beta1**t, 1 - beta2**t
                    denom = (second.sqrt() / math.sqrt(bias2)).add_(eps)
                    p.addcdiv_(exp_avg, denom, value=-lr / bias1)
                else:
                    t = step_t.to(torch.float64)  # beta^t in double, as the scalar path does
                    bias1, bias2 = 1 - beta1**t, 1 - beta2**t
                    denom = (second.sqrt() / bias2.sqrt().to(p.dtype)).add_(eps)
                    p.addcdiv_(exp_avg * (lr / bias1).to(p.dtype), denom, value=-1.0)
        return loss


def lora_param_groups(model: nn.Module, lr: float, weight_decay: float = 0.0) -> list[dict]:
    """The three StepAdamW groups: every LoRA A (per-row step), every LoRA B (per-column step), and the
    remaining trainable parameters (scalar step). Only parameters with ``requires_grad`` are listed."""
    a_params, b_params, lora_ids = [], [], set()
    for _, layer in lora_layers(model):
        for p, bucket in ((layer.lora_A, a_params), (layer.lora_B, b_params)):
            if id(p) in lora_ids:
                continue
            lora_ids.add(id(p))
            if p.requires_grad:
                bucket.append(p)
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in lora_ids]
    common = {"lr": lr, "weight_decay": weight_decay}
    return [
        {"params": a_params, "vector_step": "rows", **common},
        {"params": b_params, "vector_step": "cols", **common},
        {"params": rest, **common},
    ]
