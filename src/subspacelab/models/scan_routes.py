"""Scan routes over an h x w token grid: the order in which a selective scan visits the grid's cells.

A route is a LongTensor ``r`` of the h*w row-major cell indices, ``r[t]`` the cell visited at step t; its reverse
``r.flip(0)`` scans the same path backwards. ``cross_scan`` gathers a (b, c, h, w) map along K routes into K
sequences; ``cross_merge`` puts K scanned sequences back in row-major order.

The routes of VMamba's SS2D (row- and column-major rasters) and of MHS-VM's four head patterns (PixDeep/MHS-VM,
``models/vmunet/scanutils.py``; docs/research/mhs_vm.md section 2.2), rebuilt from their described orders:
- ``raster_rows`` / ``raster_cols``: row-major, column-major (MHS-VM's "Z" head; SS2D's routes);
- ``snake_rows`` / ``snake_cols``: boustrophedon by rows, by columns ("C", consecutive);
- ``diagonal`` / ``diagonal_mirrored``: the anti-diagonals, alternating direction, and its left-right mirror ("X");
- ``spiral`` / ``spiral_flipped``: clockwise from the top-left corner inwards, and its upside-down copy ("S").
"""

from __future__ import annotations

import functools

import torch


def _grid(h: int, w: int) -> torch.Tensor:
    return torch.arange(h * w).view(h, w)


def raster_rows(h: int, w: int) -> torch.Tensor:
    return _grid(h, w).flatten()


def raster_cols(h: int, w: int) -> torch.Tensor:
    return _grid(h, w).t().flatten()


def snake_rows(h: int, w: int) -> torch.Tensor:
    g = _grid(h, w).clone()
    g[1::2] = g[1::2].flip(1)
    return g.flatten()


def snake_cols(h: int, w: int) -> torch.Tensor:
    g = _grid(h, w).t().clone()
    g[1::2] = g[1::2].flip(1)
    return g.flatten()


def diagonal(h: int, w: int) -> torch.Tensor:
    """Anti-diagonals i + j = s for s = 0, 1, ...; odd s walk down-left (row ascending), even s up-right."""
    g = _grid(h, w)
    order = []
    for s in range(h + w - 1):
        cells = [g[i, s - i] for i in range(max(0, s - w + 1), min(h, s + 1))]  # row ascending
        order += cells if s % 2 else cells[::-1]
    return torch.stack(order)


def diagonal_mirrored(h: int, w: int) -> torch.Tensor:
    mirror = _grid(h, w).flip(1).flatten()  # cell (i, j) -> (i, w - 1 - j)
    return mirror[diagonal(h, w)]


def spiral(h: int, w: int) -> torch.Tensor:
    """Clockwise from the top-left corner, outside in."""
    g = _grid(h, w)
    order = []
    while g.numel():
        order.append(g[0])
        g = g[1:].t().flip(0)  # rotate the rest anticlockwise: its top row continues the walk
    return torch.cat(order)


def spiral_flipped(h: int, w: int) -> torch.Tensor:
    flip = _grid(h, w).flip(0).flatten()  # cell (i, j) -> (h - 1 - i, j)
    return flip[spiral(h, w)]


PATTERNS = {  # MHS-VM's heads, in the code's order C, X, S, Z: two base routes each
    "C": (snake_rows, snake_cols),
    "X": (diagonal, diagonal_mirrored),
    "S": (spiral, spiral_flipped),
    "Z": (raster_rows, raster_cols),
}


def with_reverses(routes: list[torch.Tensor]) -> torch.Tensor:
    """(2K, l): every route followed by its reverse, as the MHS-VM and SS2D scans run them."""
    return torch.stack([r for route in routes for r in (route, route.flip(0))])


@functools.lru_cache(maxsize=256)
def pattern_routes(name: str, h: int, w: int) -> torch.Tensor:
    """The 4 routes of a head pattern ("C", "X", "S", "Z"; "Z" is also SS2D's): route 0, its reverse, route 1, its
    reverse. Built once per pattern and grid (a network asks at every forward); callers must not modify it."""
    return with_reverses([make(h, w) for make in PATTERNS[name]])


def cross_scan(x: torch.Tensor, routes: torch.Tensor) -> torch.Tensor:
    """(b, c, h, w) -> (b, K, c, l): the map read along each of the K routes."""
    flat = x.flatten(2)
    return torch.stack([flat[..., r] for r in routes], 1)


def cross_merge(y: torch.Tensor, routes: torch.Tensor) -> torch.Tensor:
    """(b, K, c, l) scanned along ``routes`` -> (b, K, c, l) in row-major order (each route's inverse)."""
    inverse = torch.argsort(routes, dim=1)
    return torch.stack([y[:, k][..., inverse[k]] for k in range(len(routes))], 1)
