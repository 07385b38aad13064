"""Binary segmentation sets made on the fly (no download), both 32 x 32 with one grey channel:

- ``synthetic_shapes``: filled ellipses, rectangles and triangles of low contrast on a smooth random texture with
  pixel noise, plus outlined shapes (a one-pixel contour) whose *interior* is foreground: whether a pixel lies
  inside a closed contour is a long-range cue, which scan routes that sweep the image differently may capture
  differently. The mask is the union of the filled shapes and the outlined interiors.
- ``thresholded``: real images (Fashion-MNIST) as the task "which pixels belong to the garment": the mask is the
  clean image above ``level``; the input is the image scaled by a random contrast in [0.5, 1] with Gaussian noise
  (without the corruption a per-pixel threshold solves the task). Both padded from 28 to 32.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same images.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def _smooth_texture(rng, n: int, size: int) -> np.ndarray:
    """Low-pass noise: white noise at a quarter of the size, upsampled bilinearly; unit standard deviation."""
    coarse = torch.as_tensor(rng.standard_normal((n, 1, size // 4, size // 4)), dtype=torch.float32)
    smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy()
    return smooth / smooth.std()


def _shape(rng, kind: str, size: int, yy, xx) -> np.ndarray:
    """A boolean filled shape of random position and size."""
    cy, cx = rng.uniform(0.2, 0.8, 2) * size
    ry, rx = rng.uniform(0.08, 0.22, 2) * size
    if kind == "ellipse":
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    if kind == "rectangle":
        return (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
    # triangle: apex up, base at cy + ry
    return (yy >= cy - ry) & (yy <= cy + ry) & (np.abs(xx - cx) <= rx * (yy - (cy - ry)) / (2 * ry))


def _outline(filled: np.ndarray) -> np.ndarray:
    """The filled shape's one-pixel inner contour (cells of the shape with a 4-neighbour outside it)."""
    padded = np.pad(filled, 1)
    inside = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return filled & ~inside


def synthetic_shapes(
    n: int, seed: int, size: int = 32, noise: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (n, 1, size, size) float32, masks (n, 1, size, size) in {0, 1}); module doc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    images = 0.5 * _smooth_texture(rng, n, size)
    masks = np.zeros((n, size, size), dtype=bool)
    kinds = ("ellipse", "rectangle", "triangle")
    for i in range(n):
        for _ in range(rng.integers(1, 5)):  # 1-4 filled shapes, contrast 0.3-0.6 of the texture's sd
            shape = _shape(rng, kinds[rng.integers(3)], size, yy, xx)
            images[i][shape] += rng.uniform(0.3, 0.6) * rng.choice([-1.0, 1.0])
            masks[i] |= shape
        for _ in range(
            rng.integers(0, 3)
        ):  # 0-2 outlined shapes: the contour is drawn, the interior is the mask
            shape = _shape(rng, kinds[rng.integers(3)], size, yy, xx)
            images[i][_outline(shape)] += 1.0
            masks[i] |= shape
    images = images + noise * rng.standard_normal(images.shape)
    return torch.as_tensor(images[:, None], dtype=torch.float32), torch.as_tensor(
        masks[:, None], dtype=torch.float32
    )


def thresholded(images: torch.Tensor, seed: int, level: float = 0.1, noise: float = 0.35, pad_to: int = 32):
    """(inputs, masks) from uint8 images (n, h, w) or (n, 1, h, w): module doc."""
    rng = np.random.default_rng(seed)
    clean = images.reshape(len(images), *images.shape[-2:]).float() / 255
    masks = (clean > level).float()
    contrast = torch.as_tensor(rng.uniform(0.5, 1.0, (len(clean), 1, 1)), dtype=torch.float32)
    noisy = clean * contrast + noise * torch.as_tensor(rng.standard_normal(clean.shape), dtype=torch.float32)
    pad = pad_to - clean.shape[-1]
    padding = (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)
    return F.pad(noisy[:, None], padding), F.pad(masks[:, None], padding)
