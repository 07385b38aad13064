"""SwitchLoRA (arXiv 2406.06564; asfsdsf/SwitchLoRA, default "continuous" mode) as plain modules.

A layer computes ``y = W x + b + s B A x`` (s = alpha / r, alpha = 1 so s = 1/r) with W frozen. Besides A
(r x n) and B (m x r) it keeps two pools of ``c = min(m, n)`` candidate vectors: rows for A (length n) and
columns for B (length m), all drawn U(-bound, bound) with the SwitchLoRA bounds. Every optimizer step a few
A rows and B columns are *switched* with the next candidates of their pool. Switching row i of A to the
candidate a' is

    W <- W + s B[:, i] (A[i, :] - a'),    pool[old index of row i] <- A[i, :],    A[i, :] <- a',

so W + s B A, i.e. the layer's function, is unchanged; the low-rank update learnt so far is absorbed into W,
which therefore accumulates full-rank information. Columns of B are switched the same way with A as the
counterpart: W <- W + s (B[:, j] - b') A[j, :]. The counterpart of a switched vector (B column i for A row
i, A row j for B column j) gets its Adam moments and per-vector step zeroed and its gradient zeroed for
``warm_steps`` optimizer steps, so Adam warms up again on the new pair.

The number of vectors switched per step is r / interval(t) (stochastic rounding), with
interval(t) = base_interval / rate(t) and rate(t) = (0.3^(1/T_e))^(t+1), T_e = descent_rate * total_steps.

``SwitchLoRAController.before_optimizer_step`` runs the whole per-step procedure; it draws its random
numbers from its own seeded ``torch.Generator``, so data-parallel ranks with the same seed switch alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from subspacelab.lowrank.lora import LoRALinear, inject_lora, switchlora_init_bounds

RATE_AT_EXPECT_STEP = 0.3
MIN_SWITCH_RATE = 1e-8


def switch_rate(step: int, expect_step: float) -> float:
    """Relative switching frequency ``(0.3^(1/expect_step))^(step+1)``, floored at 1e-8 (0.3 at step
    ``expect_step - 1``; the code's default "exponential" descent)."""
    if expect_step <= 0:
        raise ValueError(f"expect_step must be > 0, got {expect_step}")
    x = RATE_AT_EXPECT_STEP ** (1.0 / expect_step)
    return max(x ** (step + 1), MIN_SWITCH_RATE)


def switch_interval(step: int, base_interval: float, expect_step: float) -> float:
    """Average number of steps between two switches of one vector: ``base_interval / switch_rate``."""
    return base_interval / switch_rate(step, expect_step)


def replace_count(
    r: int, step: int, base_interval: float, expect_step: float, warm_steps: int, generator: torch.Generator
) -> int:
    """How many A rows (and as many B columns) to switch at ``step``: ``q = r / interval`` rounded
    stochastically, ``floor(q) + [u < q - floor(q)]`` with ``u ~ U(0, 1)`` drawn from ``generator`` (one
    draw per call, whatever q is). Raises RuntimeError when ``interval < 2 * warm_steps``, as the code
    does (each of A and B may be frozen for ``warm_steps`` steps within one interval)."""
    interval = switch_interval(step, base_interval, expect_step)
    if interval < 2 * warm_steps:
        raise RuntimeError(
            f"switch interval {interval:.3g} at step {step} is below 2 * warm_steps = {2 * warm_steps}"
        )
    q = r / interval
    whole = int(q)
    u = float(torch.rand((), generator=generator, dtype=torch.float64))
    return whole + (1 if u < q - whole else 0)


class SwitchLoRALinear(LoRALinear):
    """LoRA layer with candidate pools and the continuous switch (see the module doc).

    Buffers (saved in ``state_dict``, moved by ``.to``): ``candidates_A`` (c x n), ``candidates_B`` (c x m),
    ``selected_A_indices`` / ``selected_B_indices`` (r, int64: pool index held by each A row / B column),
    ``candidate_A_index`` / ``candidate_B_index`` (0-dim int64: next A row / B column to switch) and
    ``frozen_A_steps`` / ``frozen_B_steps`` (r, int64: optimizer steps each vector stays frozen).
    """

    def __init__(
        self,
        base: nn.Linear,
        r: int,
        alpha: float | None = None,
        init: str = "switchlora",
        generator: torch.Generator | None = None,
    ):
        super().__init__(base, r=r, alpha=1.0 if alpha is None else alpha, init=init, generator=generator)

    @property
    def candidate_num(self) -> int:
        return int(self.candidates_A.shape[0])

    @property
    def can_switch(self) -> bool:
        """The code switches only when the pools hold more vectors than the rank."""
        return self.candidate_num > self.r

    @torch.no_grad()
    def reset_lora(self, init: str = "switchlora", generator: torch.Generator | None = None) -> None:
        """Draw both pools (A's then B's, from ``generator``, on the CPU), select the last r candidates for
        A and the same rotated by r//2 for B, copy them into A and B and set W <- W0 - s B A so the layer
        computes W0 x. Called again later, it first restores W0, so the function is still kept."""
        if init != "switchlora":
            raise ValueError(f"SwitchLoRALinear supports init='switchlora' only, got {init!r}")
        if "candidates_A" in self._buffers:
            self.weight += self.delta()
        m, n, r = self.out_features, self.in_features, self.r
        c = min(m, n)
        dev, dt = self.weight.device, self.weight.dtype
        bound_a, bound_b = switchlora_init_bounds(n, m, r)
        pool_a = torch.empty(c, n, dtype=dt).uniform_(-bound_a, bound_a, generator=generator)
        pool_b = torch.empty(c, m, dtype=dt).uniform_(-bound_b, bound_b, generator=generator)
        sel_a = torch.arange(c - r, c, dtype=torch.int64)
        sel_b = torch.roll(sel_a, r // 2)  # column i holds candidate sel_a[i - r//2]
        self.register_buffer("candidates_A", pool_a.to(dev))
        self.register_buffer("candidates_B", pool_b.to(dev))
        self.register_buffer("selected_A_indices", sel_a.to(dev))
        self.register_buffer("selected_B_indices", sel_b.to(dev))
        self.register_buffer("candidate_A_index", torch.tensor(0, dtype=torch.int64, device=dev))
        self.register_buffer("candidate_B_index", torch.tensor(r // 2, dtype=torch.int64, device=dev))
        self.register_buffer("frozen_A_steps", torch.zeros(r, dtype=torch.int64, device=dev))
        self.register_buffer("frozen_B_steps", torch.zeros(r, dtype=torch.int64, device=dev))
        self.lora_A.copy_(self.candidates_A[self.selected_A_indices])
        self.lora_B.copy_(self.candidates_B[self.selected_B_indices].T)
        self.weight -= self.delta()

    def available_switches(self) -> int:
        """The code's cap on vectors switchable now: with pointers a, b and f_A, f_B frozen A rows / B
        columns, ``min((a - f_A - b) mod r, (b - f_B - a) mod r)``."""
        a, b = int(self.candidate_A_index), int(self.candidate_B_index)
        f_a, f_b = int((self.frozen_A_steps > 0).sum()), int((self.frozen_B_steps > 0).sum())
        return min((a - f_a - b) % self.r, (b - f_b - a) % self.r)

    @torch.no_grad()
    def switch(self, n_replace: int, warm_steps: int = 5) -> tuple[list[int], list[int]]:
        """Switch ``min(n_replace, available_switches())`` A rows, then as many B columns, cyclically from
        the two pointers; each row/column takes the pool index after its predecessor's (mod c). Freezes the
        counterparts for ``max(warm_steps, 0)`` steps. Returns (switched A rows, switched B columns)."""
        if not self.can_switch or n_replace <= 0:
            return [], []
        k = min(int(n_replace), self.available_switches())
        if k == 0:
            return [], []
        r = self.r
        a, b = int(self.candidate_A_index), int(self.candidate_B_index)
        rows = [(a + i) % r for i in range(k)]
        cols = [(b + i) % r for i in range(k)]
        self.candidate_A_index.fill_((a + k) % r)
        self.candidate_B_index.fill_((b + k) % r)
        freeze = max(int(warm_steps), 0)
        # A rows: W += s B[:, rows] (A_old - A_new); counterpart B columns frozen.
        idx, dest = self._walk(self.selected_A_indices, rows)
        new = self.candidates_A[dest]
        old = self.lora_A[idx]
        self.weight += self.scaling * self.lora_B[:, idx] @ (old - new)
        self.candidates_A[self.selected_A_indices[idx]] = old
        self.lora_A[idx] = new
        self.selected_A_indices[idx] = dest
        self.frozen_B_steps[idx] = freeze
        # B columns (with the new A): W += s (B_old - B_new) A[cols, :]; counterpart A rows frozen.
        idx, dest = self._walk(self.selected_B_indices, cols)
        new = self.candidates_B[dest]
        old = self.lora_B[:, idx].T
        self.weight += self.scaling * (old - new).T @ self.lora_A[idx]
        self.candidates_B[self.selected_B_indices[idx]] = old
        self.lora_B[:, idx] = new.T
        self.selected_B_indices[idx] = dest
        self.frozen_A_steps[idx] = freeze
        return rows, cols

    def _walk(self, selected: torch.Tensor, slots: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Slot indices and their new pool indices: ``selected[slots[0] - 1] + 1 + i`` (mod c)."""
        start = int(selected[(slots[0] - 1) % self.r]) + 1
        dev = selected.device
        dest = torch.tensor([(start + i) % self.candidate_num for i in range(len(slots))], device=dev)
        return torch.tensor(list(slots), device=dev), dest

    @torch.no_grad()
    def mask_frozen_grads_(self) -> None:
        """Zero the gradient of every frozen A row / B column and count one step off its freeze."""
        for counters, param, dim in (
            (self.frozen_A_steps, self.lora_A, 0),
            (self.frozen_B_steps, self.lora_B, 1),
        ):
            frozen = counters > 0
            if param.grad is not None and bool(frozen.any()):
                param.grad.index_fill_(dim, frozen.nonzero().flatten(), 0.0)
            counters.sub_(frozen.to(counters.dtype)).clamp_(min=0)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", candidate_num={self.candidate_num}"


def inject_switchlora(
    model: nn.Module, targets: Sequence[str], r: int, alpha: float = 1.0, seed: int = 0
) -> list[str]:
    """``inject_lora`` with ``SwitchLoRALinear`` layers (init "switchlora", pools from one seeded generator)."""
    return inject_lora(
        model, targets, r=r, alpha=alpha, init="switchlora", seed=seed, layer_cls=SwitchLoRALinear
    )


def switchlora_layers(model: nn.Module) -> list[SwitchLoRALinear]:
    return [m for m in model.modules() if isinstance(m, SwitchLoRALinear)]


def _zero_vector_state(
    optimizer: torch.optim.Optimizer, param: torch.Tensor, idx: list[int], dim: int
) -> None:
    """Zero Adam's exp_avg, exp_avg_sq and (per-vector) step of the rows (dim 0) / columns (dim 1) ``idx``.
    A scalar step (plain AdamW) cannot be reset per vector and is left alone."""
    state = optimizer.state.get(param)
    if not state or "exp_avg" not in state:
        return
    for key in ("exp_avg", "exp_avg_sq", "step"):
        t = state.get(key)
        if t is None or t.dim() != 2:
            continue
        t.index_fill_(dim, torch.tensor(idx, device=t.device), 0)


class SwitchLoRAController:
    """The per-step SwitchLoRA procedure for all ``SwitchLoRALinear`` layers of a model.

    ``expect_step = descent_rate * total_steps``; ``warm_steps`` is the code's ``adam_warm_step`` (a
    negative value resets the states without freezing, 0 is rejected as in the code's help text).
    """

    def __init__(
        self,
        model_or_layers: nn.Module | Iterable[SwitchLoRALinear],
        total_steps: int,
        base_interval: float = 40,
        descent_rate: float = 0.1,
        warm_steps: int = 5,
        seed: int = 0,
    ):
        if isinstance(model_or_layers, nn.Module):
            self.layers = switchlora_layers(model_or_layers)
        else:
            self.layers = list(model_or_layers)
        if not self.layers:
            raise ValueError("no SwitchLoRALinear layer to control")
        if warm_steps == 0:
            raise ValueError("warm_steps=0 is not supported (the code: use -1 for no warm-up)")
        self.base_interval = float(base_interval)
        self.expect_step = float(descent_rate) * float(total_steps)
        if self.expect_step <= 0:
            raise ValueError("descent_rate * total_steps must be > 0")
        self.warm_steps = int(warm_steps)
        self.generator = torch.Generator().manual_seed(int(seed))

    def replace_count(self, step: int, r: int) -> int:
        return replace_count(r, step, self.base_interval, self.expect_step, self.warm_steps, self.generator)

    @torch.no_grad()
    def before_optimizer_step(
        self, step: int, optimizer: torch.optim.Optimizer | None = None
    ) -> list[tuple[list[int], list[int]]]:
        """Call after backward (and gradient clipping), before ``optimizer.step()``. For each layer, in the
        code's order: draw the count and switch; zero the Adam state of the newly frozen counterparts (B
        columns = switched A rows, A rows = switched B columns); zero the gradients of all frozen vectors
        and decrement their counters. Returns (switched A rows, switched B columns) per layer."""
        switched = []
        for layer in self.layers:
            rows: list[int] = []
            cols: list[int] = []
            if layer.can_switch:
                rows, cols = layer.switch(self.replace_count(step, layer.r), self.warm_steps)
            if optimizer is not None and rows:
                _zero_vector_state(optimizer, layer.lora_B, rows, dim=1)
                _zero_vector_state(optimizer, layer.lora_A, cols, dim=0)
            layer.mask_frozen_grads_()
            switched.append((rows, cols))
        return switched

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Generator state and the layers' pointers (pools, indices and counters live in the model)."""
        pointers = torch.tensor(
            [[int(x.candidate_A_index), int(x.candidate_B_index)] for x in self.layers], dtype=torch.int64
        )
        return {"generator": self.generator.get_state(), "pointers": pointers}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        pointers = state["pointers"]
        if pointers.shape != (len(self.layers), 2):
            raise ValueError(f"pointers for {pointers.shape[0]} layers, controller has {len(self.layers)}")
        self.generator.set_state(state["generator"])
        for layer, (a, b) in zip(self.layers, pointers.tolist(), strict=True):
            layer.candidate_A_index.fill_(a)
            layer.candidate_B_index.fill_(b)
