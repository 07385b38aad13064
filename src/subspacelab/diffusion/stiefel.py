"""Keeping learnable bases on the Stiefel manifold {U : UᵀU = I} while a Euclidean optimiser (Adam) steps.

Around every optimiser step: ``project_to_tangent_`` replaces the gradient G by its tangent component
G − U sym(UᵀG) before the step, ``qr_retract_`` maps the stepped U back by QR (U ← Q·diag(sign(diag R)), the
sign fix making the retraction continuous). Both act on the last two dimensions, so a stack (..., n, d) of
bases is handled at once. A retraction changes the path, not the fixed points: the projected gradient
vanishes at the same U.
"""

from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def project_to_tangent_(U: Tensor) -> None:
    """U.grad ← U.grad − U sym(Uᵀ U.grad), in place (no-op without a gradient)."""
    if U.grad is None:
        return
    UtG = U.transpose(-1, -2) @ U.grad
    U.grad -= U @ (0.5 * (UtG + UtG.transpose(-1, -2)))


@torch.no_grad()
def qr_retract_(U: Tensor) -> None:
    """U ← Q·diag(sign(diag R)) for U = QR, in place."""
    Q, R = torch.linalg.qr(U)
    signs = torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))
    signs[signs == 0] = 1.0
    U.copy_(Q * signs.unsqueeze(-2))


@torch.no_grad()
def orthonormality_error(U: Tensor) -> float:
    """max |UᵀU − I| over the stack."""
    return float(
        (U.transpose(-1, -2) @ U - torch.eye(U.shape[-1], dtype=U.dtype, device=U.device)).abs().max()
    )
