"""Geometry of the Grassmann manifold Gr(k, D) and the Riemannian SGD of GCR (Wang, Li & Zhang, ICCV 2023).

A point of Gr(k, D) (a k-dimensional subspace of R^D) is stored as a D x k matrix S with orthonormal
columns, S^T S = I; S and S Q (Q a k x k orthogonal matrix) are the same point. All functions accept a
batch of points of shape (..., D, k), e.g. (C, D, k) for one subspace per class.

* Tangent space at S: {H : S^T H = 0}. The Riemannian gradient of f is the Euclidean gradient with its
  component inside span(S) removed: grad f = (I - S S^T) G.
* Geodesic from S along H with thin SVD H = U diag(s) V^T (Edelman, Arias & Smith 1998, Thm 2.3):
      S(t) = (S V cos(s t) + U sin(s t)) V^T.
* Parallel transport of a tangent vector M along that geodesic (same paper, eq. 2.68):
      M(t) = (-S V sin(s t) U^T + U cos(s t) U^T + I - U U^T) M.

``GrassmannSGD`` follows the official code (``innerlee/gcr``, ``gcr/rsgd.py``): the momentum buffer holds
*Euclidean* gradients, exactly as ``torch.optim.SGD`` keeps it; at each step the buffer is projected onto
the tangent space at the current point and the point moves along the geodesic by -lr. The momentum is
neither parallel-transported nor re-projected in the buffer; ``transport`` is provided for reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor


def tangent(S: Tensor, G: Tensor) -> Tensor:
    """Riemannian gradient (I - S S^T) G: the projection of G onto the tangent space of Gr(k, D) at S."""
    return G - S @ (S.transpose(-1, -2) @ G)


def orthonormalise(S: Tensor) -> Tensor:
    """Q factor of a thin QR of S with the signs fixed so that diag(R) > 0.

    span(Q) = span(S); with the sign fix, an S that is already orthonormal is returned unchanged, so the
    columns (and a Euclidean momentum buffer attached to them) do not flip sign.
    """
    Q, R = torch.linalg.qr(S)
    signs = torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return Q * signs.unsqueeze(-2)


def exp_step(S: Tensor, H: Tensor, t: float = 1.0) -> Tensor:
    """Point S(t) of the geodesic with S(0) = S and S'(0) = H (H tangent at S); t may be negative.

    S(t) = (S V cos(s t) + U sin(s t)) V^T with thin SVD H = U diag(s) V^T. No re-orthonormalisation.
    """
    U, s, Vh = torch.linalg.svd(H, full_matrices=False)
    st = (s * t).unsqueeze(-2)
    return (S @ Vh.transpose(-1, -2) * torch.cos(st) + U * torch.sin(st)) @ Vh


def transport(S: Tensor, H: Tensor, t: float, M: Tensor) -> Tensor:
    """Parallel transport of the tangent vector M at S to S(t) = exp_step(S, H, t).

    M(t) = (-S V sin(s t) U^T + U cos(s t) U^T + I - U U^T) M; an isometry, and M(t) is tangent at S(t).
    """
    U, s, Vh = torch.linalg.svd(H, full_matrices=False)
    st = (s * t).unsqueeze(-2)
    Ut_M = U.transpose(-1, -2) @ M
    return (-S @ Vh.transpose(-1, -2) * torch.sin(st) + U * torch.cos(st)) @ Ut_M + M - U @ Ut_M


def manifold_param_groups(model: torch.nn.Module, **grassmann_options: Any) -> list[dict[str, Any]]:
    """Parameter groups for ``GrassmannSGD``: the parameters that modules declare as points on the Grassmannian
    (a module's ``grassmann_parameters()``; ``manifold="grassmann"``, with ``grassmann_options`` such as a
    separate lr), and every other parameter in one Euclidean group."""
    manifold = [
        p for m in model.modules() if hasattr(m, "grassmann_parameters") for p in m.grassmann_parameters()
    ]
    ids = {id(p) for p in manifold}
    groups: list[dict[str, Any]] = [{"params": [p for p in model.parameters() if id(p) not in ids]}]
    if manifold:
        groups.append({"params": manifold, "manifold": "grassmann", **grassmann_options})
    return groups


class GrassmannSGD(torch.optim.Optimizer):
    """SGD with momentum and weight decay, plus the GCR Riemannian SGD for Grassmannian parameter groups.

    Ordinary groups: the update of ``torch.optim.SGD`` (no Nesterov): d = g + wd * p, buf = m * buf +
    (1 - dampening) * d (buf = d at the first step), p <- p - lr * buf.

    Groups with ``manifold="grassmann"`` hold parameters of shape (..., D, k) with orthonormal columns.
    Step: buf as above from the raw gradient (weight decay is never applied, as in the official code),
    G = (I - S S^T) buf, S <- exp_step(S, G, -lr); every ``reorth_every`` steps of that parameter, starting
    with its first, S is re-orthonormalised by QR (``orthonormalise``); ``reorth_every=0`` never does.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        reorth_every: int = 5,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0 or reorth_every < 0:
            raise ValueError("lr, momentum, weight_decay and reorth_every must be non-negative")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            reorth_every=reorth_every,
            manifold="euclidean",
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["manifold"] not in ("euclidean", "grassmann"):
                raise ValueError(f"unknown manifold {group['manifold']!r}; use 'euclidean' or 'grassmann'")
            if group["manifold"] == "grassmann":
                for p in group["params"]:
                    if p.dim() < 2 or p.shape[-2] < p.shape[-1]:
                        raise ValueError(
                            f"a Grassmannian parameter must have shape (..., D, k), D >= k; "
                            f"got {tuple(p.shape)}"
                        )

    def _direction(self, p: Tensor, d_p: Tensor, group: dict[str, Any]) -> Tensor:
        momentum = group["momentum"]
        if momentum == 0:
            return d_p
        state = self.state[p]
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = d_p.detach().clone()
        else:
            buf.mul_(momentum).add_(d_p, alpha=1 - group["dampening"])
        return buf

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            grassmann = group["manifold"] == "grassmann"
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if not grassmann:
                    if group["weight_decay"] != 0:
                        d_p = d_p.add(p, alpha=group["weight_decay"])
                    p.add_(self._direction(p, d_p, group), alpha=-group["lr"])
                    continue
                direction = self._direction(p, d_p, group)
                new = exp_step(p, tangent(p, direction), -group["lr"])
                state = self.state[p]
                count = state.get("step", 0)
                if group["reorth_every"] and count % group["reorth_every"] == 0:
                    new = orthonormalise(new)
                state["step"] = count + 1
                p.copy_(new)
        return loss
