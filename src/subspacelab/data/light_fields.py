"""Synthetic 4-D light fields made from real images: layered fronto-parallel scenes seen from a 5 x 5 grid of views
(the stand-in for MLFSR's EPFL/HCI/INRIA/Stanford scenes, which the offline mirror does not hold).

A scene is a stack of layers drawn back to front. The background is one image resized to the canvas; each
foreground is another image at its native size, placed at a random offset, with a soft alpha from its own
intensity. Every layer has its own disparity ``d`` (HR pixels per view step; sub-pixel values, so the low-resolution
views are not mere integer shifts of each other): view (u, v), u and v in {-2, ..., 2}, sees the layer translated by
(u d, v d) (bilinear ``grid_sample``), and the composite's centre crop is the view. Nearer layers occlude farther ones
as the views move, so the epipolar-plane images hold lines of several slopes that end at occlusions.

Layout: (n, U V, H, W), view (u, v) at index u V + v, values in [0, 1] (one grey channel, MLFSR's Y channel).
``downsample_views`` is the degradation: each view bicubic-downsampled with antialiasing (MLFSR uses MATLAB's
``imresize``; the two differ in their kernels' details).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def shift_images(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Each image (n, c, h, w) translated by (dy, dx) pixels (content moves down and right for positive values),
    bilinear, zeros outside."""
    n, _, h, w = images.shape
    theta = torch.zeros(n, 2, 3, dtype=images.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = -2 * dx / w, -2 * dy / h  # align_corners=False: one pixel is 2 / size
    grid = F.affine_grid(theta, (n, 1, h, w), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def render_views(
    layers: torch.Tensor, alphas: torch.Tensor, disparities: torch.Tensor, ang: int = 5, size: int = 32
) -> torch.Tensor:
    """Scenes of ``layers`` (n, k, H, W) back to front, their ``alphas`` (n, k, H, W) and ``disparities`` (n, k):
    (n, ang², size, size), each view the centre crop of the composite of the translated layers."""
    n, k, big, _ = layers.shape
    offsets = torch.arange(ang, dtype=layers.dtype) - (ang - 1) / 2
    u, v = torch.meshgrid(offsets, offsets, indexing="ij")
    u, v = u.flatten(), v.flatten()  # view index u * ang + v
    views = torch.zeros(n, ang * ang, big, big, dtype=layers.dtype)
    for j in range(k):
        d = disparities[:, j, None]  # (n, 1)
        stack = torch.stack([layers[:, j], alphas[:, j]], 1).repeat_interleave(
            ang * ang, 0
        )  # (n a², 2, H, W)
        moved = shift_images(stack, (u * d).flatten(), (v * d).flatten()).view(n, ang * ang, 2, big, big)
        views = moved[:, :, 1] * moved[:, :, 0] + (1 - moved[:, :, 1]) * views
    lo = (big - size) // 2
    return views[..., lo : lo + size, lo : lo + size].clamp(0, 1)


def layered_scenes(
    images: torch.Tensor,
    n: int,
    seed: int,
    *,
    ang: int = 5,
    size: int = 32,
    canvas: int = 40,
    max_disparity: float = 1.5,
    min_gap: float = 0.5,
) -> torch.Tensor:
    """``n`` light fields (n, ang², size, size) from ``images`` (N, 1, h, w) uint8 or float in [0, 1]: a background
    (an image resized to ``canvas``, its intensities lifted to [0.2, 0.8]) and one or two foreground images at
    random offsets with alpha clamp((I - 0.1) / 0.2, 0, 1); disparities uniform in ±``max_disparity``, each
    foreground at least ``min_gap`` from the background's. Deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    h = images.shape[-1]
    pick = torch.as_tensor(rng.integers(0, len(images), (n, 3)))
    background = F.interpolate(
        images[pick[:, 0]], size=(canvas, canvas), mode="bilinear", align_corners=False
    )
    layers = torch.zeros(n, 3, canvas, canvas)
    alphas = torch.zeros(n, 3, canvas, canvas)
    layers[:, 0], alphas[:, 0] = 0.2 + 0.6 * background[:, 0], 1.0
    two = torch.as_tensor(rng.random(n) < 0.5)
    corner = rng.integers(0, canvas - h + 1, (n, 2, 2))
    for j in (1, 2):
        for i in range(n):
            if j == 2 and not two[i]:
                continue
            y, x = corner[i, j - 1]
            img = images[pick[i, j], 0]
            layers[i, j, y : y + h, x : x + h] = img
            alphas[i, j, y : y + h, x : x + h] = ((img - 0.1) / 0.2).clamp(0, 1)
    d_back = rng.uniform(-max_disparity, max_disparity, n)
    d_front = np.empty((n, 2))
    for i in range(n):
        for j in range(2):
            d = rng.uniform(-max_disparity, max_disparity)
            while abs(d - d_back[i]) < min_gap:
                d = rng.uniform(-max_disparity, max_disparity)
            d_front[i, j] = d
    disparities = torch.as_tensor(np.column_stack([d_back, d_front]), dtype=torch.float32)
    return render_views(layers, alphas, disparities, ang, size)


def downsample_views(views: torch.Tensor, scale: int) -> torch.Tensor:
    """(n, a², H, W) -> (n, a², H / scale, W / scale): each view bicubic-downsampled with antialiasing."""
    n, a2, h, w = views.shape
    small = F.interpolate(
        views.reshape(n * a2, 1, h, w),
        scale_factor=1 / scale,
        mode="bicubic",
        antialias=True,
        align_corners=False,
    )
    return small.view(n, a2, h // scale, w // scale)


def upsample_views(views: torch.Tensor, scale: int) -> torch.Tensor:
    """(n, a², h, w) -> (n, a², h scale, w scale): each view bicubic-upsampled (the super-resolution floor)."""
    n, a2, h, w = views.shape
    big = F.interpolate(
        views.reshape(n * a2, 1, h, w), scale_factor=scale, mode="bicubic", align_corners=False
    )
    return big.view(n, a2, h * scale, w * scale)


def psnr_per_light_field(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """BasicLFSR's protocol on (n, a², H, W) in [0, 1]: the PSNR of each view (data range 1), averaged over the
    views of each light field; (n,)."""
    mse = (sr.double() - hr.double()).pow(2).flatten(2).mean(-1)  # (n, a²)
    return (10 * torch.log10(1 / mse)).mean(1)
