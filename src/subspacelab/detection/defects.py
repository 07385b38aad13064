"""Synthetic local defects on grey images in [0, 1] (an MVTec-like test set made from normal images).

``add_defect`` changes one small region of an image and returns the defective image and its ground-truth mask:
the region's pixels that changed by more than ``visible``. Kinds: ``patch`` (a square cut from a donor image
and pasted, CutPaste-like), ``scratch`` (a thin straight line of contrasting intensity), ``hole`` (a square
erased to the background). Regions are centred on the object (a pixel brighter than ``foreground``)."""

from __future__ import annotations

import numpy as np

KINDS = ("patch", "scratch", "hole")


def _centre_on_object(image: np.ndarray, rng: np.random.Generator, foreground: float) -> tuple[int, int]:
    ys, xs = np.nonzero(image > foreground)
    if len(ys) == 0:
        h, w = image.shape
        return h // 2, w // 2
    i = rng.integers(len(ys))
    return int(ys[i]), int(xs[i])


def _square(shape, centre, side) -> tuple[slice, slice]:
    h, w = shape
    top = int(np.clip(centre[0] - side // 2, 0, h - side))
    left = int(np.clip(centre[1] - side // 2, 0, w - side))
    return slice(top, top + side), slice(left, left + side)


def _line(shape, centre, length, angle) -> np.ndarray:
    region = np.zeros(shape, dtype=bool)
    t = np.linspace(-length / 2, length / 2, 4 * length)
    ys = np.round(centre[0] + t * np.sin(angle)).astype(int)
    xs = np.round(centre[1] + t * np.cos(angle)).astype(int)
    keep = (ys >= 0) & (ys < shape[0]) & (xs >= 0) & (xs < shape[1])
    region[ys[keep], xs[keep]] = True
    return region


def add_defect(
    image: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    donor: np.ndarray | None = None,
    side: tuple[int, int] = (5, 8),
    length: tuple[int, int] = (8, 14),
    foreground: float = 0.2,
    visible: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """(defective image, boolean mask of the changed pixels) for one defect of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown defect kind {kind!r}; known: {', '.join(KINDS)}")
    out = np.array(image, dtype=np.float64, copy=True)
    centre = _centre_on_object(out, rng, foreground)
    region = np.zeros(out.shape, dtype=bool)
    if kind == "scratch":
        region = _line(out.shape, centre, int(rng.integers(length[0], length[1] + 1)), rng.uniform(0, np.pi))
        local = out[region].mean() if region.any() else 0.0
        out[region] = 0.0 if local > 0.5 else 1.0
    else:
        n = int(rng.integers(side[0], side[1] + 1))
        sy, sx = _square(out.shape, centre, n)
        region[sy, sx] = True
        if kind == "hole":
            out[sy, sx] = 0.0
        else:
            if donor is None:
                raise ValueError("a 'patch' defect needs a donor image")
            dy = int(rng.integers(0, donor.shape[0] - n + 1))
            dx = int(rng.integers(0, donor.shape[1] - n + 1))
            out[sy, sx] = donor[dy : dy + n, dx : dx + n]
    mask = region & (np.abs(out - image) > visible)
    return out, mask
