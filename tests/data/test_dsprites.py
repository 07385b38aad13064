"""The generated dSprites: a full factorial with exact factors; each factor changes the image the way it names;
the square and the ellipse repeat every half turn, the triangle does not."""

import numpy as np
import pytest

from subspacelab.data.dsprites import SHAPES, Grid, all_factors, inside, render

GRID = Grid(orientations=10, positions=4)


def test_the_factorial_has_every_combination_once():
    f = all_factors(GRID)
    assert f.shape == (3 * 6 * 10 * 4 * 4, 5) and len(np.unique(f, axis=0)) == len(f)


def test_position_moves_the_ink_and_scale_grows_it():
    base = np.array([[0, 2, 0, 1, 1]])
    img = render(base, GRID)[0, 0].astype(float)
    right = render(base + [0, 0, 0, 1, 0], GRID)[0, 0].astype(float)
    down = render(base + [0, 0, 0, 0, 1], GRID)[0, 0].astype(float)
    cols, rows = np.arange(32), np.arange(32)
    centre = lambda im: ((im.sum(0) * cols).sum() / im.sum(), (im.sum(1) * rows).sum() / im.sum())  # noqa: E731
    step = np.diff(GRID.centres())[0]
    assert centre(right)[0] - centre(img)[0] == pytest.approx(step, abs=0.3)
    assert centre(down)[1] - centre(img)[1] == pytest.approx(step, abs=0.3)
    areas = [render([[0, s, 0, 1, 1]], GRID).sum() for s in range(6)]
    assert all(np.diff(areas) > 0)


def test_half_turn_symmetry_of_the_square_and_ellipse_but_not_the_triangle():
    for shape, symmetric in ((0, True), (1, True), (2, False)):
        a, b = render([[shape, 5, 1, 2, 2], [shape, 5, 6, 2, 2]], GRID)
        assert np.array_equal(a, b) == symmetric, SHAPES[shape]


def test_every_shape_stays_inside_the_canvas_and_bad_indices_are_refused():
    big = np.array([[s, 5, o, p, q] for s in range(3) for o in range(10) for p in (0, 3) for q in (0, 3)])
    imgs = render(big, GRID)
    assert imgs.sum((1, 2, 3)).min() > 0
    assert imgs[:, 0, [0, -1], :].sum() == 0 and imgs[:, 0, :, [0, -1]].sum() == 0
    with pytest.raises(ValueError, match="levels"):
        render([[3, 0, 0, 0, 0]], GRID)
    with pytest.raises(ValueError, match="unknown shape"):
        inside("star", np.zeros(1), np.zeros(1))
