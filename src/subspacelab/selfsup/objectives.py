"""Multi-view self-supervised objectives on projector outputs ``z`` of shape (B images, N views, d).

- ``mmcr_loss``: Maximum Manifold Capacity Representations (Yerxa et al. 2023) as the official code computes it
  (ThomasYerxa/mmcr ``mmcr/cifar_stl/loss_mmcr.py``): every view L2-normalised, the centroid of each image's
  views, loss = λ · Σ_b ‖Z_b‖_* / B − ‖C‖_*, with Z_b the d × N matrix of image b's views and C the B × d
  matrix of centroids (nuclear norms by ``torch.linalg.svdvals``). λ = 0 is the released default. Under DDP the
  per-image matrices of every rank are gathered with a gradient (``torch.distributed.nn``), so each rank computes
  the global batch's loss and DDP's averaged gradient is the one-process gradient. (The official code gathers
  without a gradient and puts its own slice back, which gives 1/W of that gradient.)
- ``SimCLR`` and ``BarlowTwins``: lightly's ``NTXentLoss`` and ``BarlowTwinsLoss`` on the first two views.

``objective(name, **options)`` builds one of them as a callable ``(z, gather) -> (loss, parts)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

NAMES = ("mmcr", "simclr", "barlow")


def gather_rows(t: Tensor) -> Tensor:
    """The rows of ``t`` from every DDP rank in rank order, with a gradient back to each rank's own rows."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    from torch.distributed._functional_collectives import (
        all_gather_single,
    )  # torch's successor of nn's all_gather

    return all_gather_single(t.contiguous(), 0, dist.group.WORLD)


def mmcr_loss(z: Tensor, lmbda: float = 0.0, gather: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
    """MMCR's loss of (B, N, d) projections (module doc) and its parts ``local_nuc`` (Σ_b ‖Z_b‖_*, 0 when λ = 0,
    as in the official code) and ``global_nuc`` (‖C‖_*). Computed in float32 at least (svdvals has no fp16)."""
    if z.dim() != 3:
        raise ValueError(f"mmcr_loss: z must be (images, views, dim), got shape {tuple(z.shape)}")
    z = F.normalize(z.float() if z.dtype in (torch.float16, torch.bfloat16) else z, dim=-1)
    per_image = z.transpose(1, 2)  # (B, d, N): the columns are one image's views
    if gather:
        per_image = gather_rows(per_image)
    centroids = per_image.mean(-1)  # (B, d)
    global_nuc = torch.linalg.svdvals(centroids).sum()
    local_nuc = torch.linalg.svdvals(per_image).sum() if lmbda else z.new_zeros(())
    loss = lmbda * local_nuc / per_image.shape[0] - global_nuc
    return loss, {"local_nuc": local_nuc.detach(), "global_nuc": global_nuc.detach()}


@dataclass
class MMCR:
    lmbda: float = 0.0  # [code] pretrain_cifar_stl.py and pretrain_imagenet.py default

    def __call__(self, z: Tensor, gather: bool = False):
        return mmcr_loss(z, self.lmbda, gather)


@dataclass
class SimCLR:
    temperature: float = 0.5  # lightly's default (the SimCLR paper's CIFAR-10 value)

    def __call__(self, z: Tensor, gather: bool = False):
        from lightly.loss import NTXentLoss

        _two_views(z, "simclr")
        return NTXentLoss(temperature=self.temperature, gather_distributed=gather)(z[:, 0], z[:, 1]), {}


@dataclass
class BarlowTwins:
    lambda_param: float = 5.0e-3  # [Barlow Twins paper; lightly's default]

    def __call__(self, z: Tensor, gather: bool = False):
        from lightly.loss import BarlowTwinsLoss

        _two_views(z, "barlow")
        loss_fn = BarlowTwinsLoss(lambda_param=self.lambda_param, gather_distributed=gather)
        return loss_fn(z[:, 0], z[:, 1]), {}


def _two_views(z: Tensor, name: str) -> None:
    if z.dim() != 3 or z.shape[1] != 2:
        raise ValueError(f"{name}: takes exactly 2 views per image, got z of shape {tuple(z.shape)}")


def objective(name: str, **options):
    """The objective called ``name`` (one of NAMES) with its options (MMCR: lmbda; SimCLR: temperature; Barlow
    Twins: lambda_param)."""
    table = {"mmcr": MMCR, "simclr": SimCLR, "barlow": BarlowTwins}
    if name not in table:
        raise ValueError(f"objective {name!r}: expected one of {', '.join(NAMES)}")
    return table[name](**options)
