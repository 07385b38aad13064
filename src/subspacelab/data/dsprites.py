"""dSprites-like images generated procedurally, with their exact generative factors (Matthey et al. 2017 for the
original: 737,280 64x64 binary images of 3 shapes x 6 scales x 40 orientations x 32 x 32 positions, a full
factorial). Here the same five factors on a coarser grid and a smaller canvas, drawn analytically, so the data
needs no download and every image's factors are known exactly.

``FACTORS``: shape (square, ellipse, triangle), scale, orientation over [0, 2π), pos_x, pos_y. A shape is the set
of points whose coordinates, moved to the shape's centre, turned by minus the orientation and divided by its
size, fall inside a unit square, an ellipse of axes 1 and 1/2, or an equilateral triangle of circumradius 1; a
pixel is on when at least half of its ``supersample``² sub-pixel centres are inside. As in dSprites, the square
repeats every quarter turn and the ellipse every half turn, so some orientations draw identical images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FACTORS = ("shape", "scale", "orientation", "pos_x", "pos_y")
SHAPES = ("square", "ellipse", "triangle")


@dataclass(frozen=True)
class Grid:
    """The factor levels: ``scales`` sizes from half to all of ``max_size`` (pixels from the centre to a square's
    side), ``orientations`` angles k·2π/orientations, ``positions`` centres per axis spread over the canvas so
    that every shape at every angle stays inside."""

    size: int = 32
    scales: int = 6
    orientations: int = 10
    positions: int = 8
    max_size: float = 5.5
    supersample: int = 3

    def levels(self) -> tuple[int, ...]:
        return (len(SHAPES), self.scales, self.orientations, self.positions, self.positions)

    def centres(self) -> np.ndarray:
        margin = self.max_size * np.sqrt(2) + 0.5  # a turned square's corner
        return np.linspace(margin, self.size - margin, self.positions)


def inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the unit-size ``shape`` holds the points (u, v) of its own frame."""
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 1
    if shape == "ellipse":
        return u**2 + (2 * v) ** 2 <= 1
    if shape == "triangle":
        r3 = np.sqrt(3.0)
        return (v >= -0.5) & (r3 * u + v <= 1) & (-r3 * u + v <= 1)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def render(factors: np.ndarray, grid: Grid = Grid()) -> np.ndarray:
    """uint8 images (n, 1, size, size) in {0, 1} of the factor class indices ``factors`` (n, 5)."""
    factors = np.asarray(factors, dtype=np.int64).reshape(-1, len(FACTORS))
    if (factors < 0).any() or (factors >= np.array(grid.levels())).any():
        raise ValueError(f"factor indices outside the grid's levels {grid.levels()}")
    s = grid.supersample
    sub = (np.arange(grid.size * s) + 0.5) / s  # sub-pixel centres, pixel units
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    size = grid.max_size * np.linspace(0.5, 1.0, grid.scales)
    angle = 2 * np.pi * np.arange(grid.orientations) / grid.orientations
    centre = grid.centres()
    out = np.empty((len(factors), 1, grid.size, grid.size), dtype=np.uint8)
    for i, (shape, sc, ori, px, py) in enumerate(factors):
        dx, dy = xx - centre[px], yy - centre[py]
        c, si = np.cos(angle[ori]), np.sin(angle[ori])
        u, v = (c * dx + si * dy) / size[sc], (-si * dx + c * dy) / size[sc]
        cover = inside(SHAPES[shape], u, v).reshape(grid.size, s, grid.size, s).mean((1, 3))
        out[i, 0] = cover >= 0.5
    return out


def all_factors(grid: Grid = Grid()) -> np.ndarray:
    """Every combination of factor levels (the full factorial), (N, 5), in lexicographic order."""
    return np.stack(np.meshgrid(*[np.arange(n) for n in grid.levels()], indexing="ij"), -1).reshape(-1, 5)


def dataset(grid: Grid = Grid()) -> tuple[np.ndarray, np.ndarray]:
    """(images, factors) of the full factorial: 3 x 6 x 10 x 8 x 8 = 11,520 images on the default grid."""
    factors = all_factors(grid)
    return render(factors, grid), factors
