"""Augmented views of a batch of images, drawn per image from (seed, epoch, image index) alone: the views of an
image do not depend on which batch, micro-batch or DDP rank it lands in, and a resumed run draws the views of an
uninterrupted one.

Each view is torchvision's ``RandomResizedCrop`` (its own ``get_params`` and ``resized_crop``) followed by a
horizontal flip with probability ``flip``, the order and random draws of
``Compose([RandomResizedCrop(size, scale, ratio), RandomHorizontalFlip(flip)])`` applied N times under one seed
(the official MMCR CIFAR transform also jitters colour; these images are grey).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def view_seed(seed: int, epoch: int, index: int) -> int:
    """The torch seed of one image's views in one epoch."""
    return int(
        np.random.SeedSequence([int(seed), int(epoch), int(index)]).generate_state(1, np.uint64)[0] >> 1
    )


@dataclass(frozen=True)
class RandomViews:
    n_views: int
    size: int
    scale: tuple[float, float] = (0.2, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    seed: int = 0

    def __post_init__(self):
        if self.n_views < 1 or self.size < 1:
            raise ValueError("RandomViews: n_views and size must be >= 1")
        if not 0 < self.scale[0] <= self.scale[1] <= 1 or not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError("RandomViews: need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1]")

    def one(self, image: Tensor, seed: int) -> Tensor:
        """(N, C, size, size): the N views of one (C, H, W) image under torch seed ``seed``."""
        from torchvision.transforms import v2
        from torchvision.transforms.v2 import functional as TF

        views = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _ in range(self.n_views):
                top, left, h, w = v2.RandomResizedCrop.get_params(image, list(self.scale), list(self.ratio))
                view = TF.resized_crop(image, top, left, h, w, [self.size, self.size], antialias=True)
                if torch.rand(1) < self.flip:
                    view = view.flip(-1)
                views.append(view)
        return torch.stack(views)

    def __call__(self, images: Tensor, index: Tensor, epoch: int) -> Tensor:
        """(B, N, C, size, size): the views of every (C, H, W) image of ``images``, whose dataset rows are
        ``index``."""
        return torch.stack(
            [
                self.one(img, view_seed(self.seed, epoch, i))
                for img, i in zip(images, index.tolist(), strict=True)
            ]
        )
