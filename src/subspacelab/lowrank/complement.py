"""Comp-LoRA (Wang et al. 2025): LoRA whose update lives in the complement of the pretrained weight's principal
subspace, ``y = W x + b + s * P_out B A P_in x`` with ``W = U S V^T``, ``P_out = I - U_p U_p^T`` and
``P_in = I - V_p V_p^T`` over the top ``excluded_rank`` singular directions (frozen, from W at injection).

So the update ``dW = s P_out B A P_in`` has ``U_p^T dW = 0`` and ``dW V_p = 0``: it neither reads the inputs the
principal directions read nor writes where they write, and W's top singular triplets are those of ``W + dW``
(``principal_leak`` measures this). A and B keep LoRA's shapes (no parameter beyond LoRA's), and
``excluded_rank = 0`` is LoRA exactly. The paper's body could not be read: projecting on both sides, with
projectors instead of complement bases ``U_c B A V_c^T`` (the same set of updates), is our reconstruction.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from subspacelab.lowrank.lora import LoRALinear


def principal_bases(weight: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(U_p, V_p): the top-``k`` left (m x k) and right (n x k) singular vectors of ``weight`` (m x n), computed in
    float64 and returned in the weight's dtype."""
    u, _, vh = torch.linalg.svd(weight.detach().double(), full_matrices=False)
    return u[:, :k].to(weight.dtype).contiguous(), vh[:k].T.to(weight.dtype).contiguous()


def remove_component(x: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``x`` (..., d) minus its projection on the span of ``basis``'s orthonormal columns (d x k)."""
    return x - (x @ basis) @ basis.T


class ComplementLoRALinear(LoRALinear):
    """A frozen linear map plus ``scaling * P_out B A P_in``: LoRA kept out of W's top singular directions."""

    def __init__(self, base: nn.Linear, r: int, excluded_rank: int, alpha: float | None = None, **kw):
        full = min(base.in_features, base.out_features)
        if not 0 <= excluded_rank <= full - r:
            raise ValueError(
                f"excluded_rank={excluded_rank} must be in 0..{full - r} (min(in, out) - r) for a {base.out_features}"
                f" x {base.in_features} weight and LoRA rank {r}: the complement must hold r directions"
            )
        super().__init__(base, r=r, alpha=alpha, **kw)
        self.excluded_rank = int(excluded_rank)
        u_p, v_p = principal_bases(self.weight, self.excluded_rank)
        self.register_buffer("u_principal", u_p)
        self.register_buffer("v_principal", v_p)

    def delta(self) -> torch.Tensor:
        """The update the layer adds: ``scaling * P_out B A P_in`` (m x n)."""
        ba = self.scaling * self.lora_B @ self.lora_A
        return remove_component(remove_component(ba, self.v_principal).T, self.u_principal).T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = F.linear(F.linear(remove_component(x, self.v_principal), self.lora_A), self.lora_B)
        return F.linear(x, self.weight, self.bias) + self.scaling * remove_component(low, self.u_principal)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, excluded_rank={self.excluded_rank}"


def principal_leak(layer: ComplementLoRALinear) -> float:
    """How much of the layer's update reaches its excluded directions: ``(|U_p^T dW| + |dW V_p|) / |dW|``
    (Frobenius norms; 0 by construction, up to rounding; 0 for a zero update)."""
    with torch.no_grad():
        d = layer.delta().double()
        size = torch.linalg.matrix_norm(d)
        if size == 0:
            return 0.0
        u, v = layer.u_principal.double(), layer.v_principal.double()
        return float((torch.linalg.matrix_norm(u.T @ d) + torch.linalg.matrix_norm(d @ v)) / size)
