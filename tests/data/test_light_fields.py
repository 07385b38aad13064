"""The synthetic light fields (``data.light_fields``): views are translated layers (an integer disparity moves a
single-layer scene by exactly u d, v d pixels), a sub-pixel shift is bilinear, nearer layers occlude, scenes are
seeded; the degradation's shapes and BasicLFSR's PSNR on a known error."""

import torch

from subspacelab.data.light_fields import (
    downsample_views,
    layered_scenes,
    psnr_per_light_field,
    render_views,
    shift_images,
    upsample_views,
)


def _texture(n=1, size=24, seed=0):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def test_a_single_layer_view_is_the_centre_view_translated_by_u_d_and_v_d():
    layer = _texture()
    views = render_views(layer, torch.ones_like(layer), torch.tensor([[1.0]]), ang=5, size=16)
    centre = views[0, 12]
    for u in range(-2, 3):
        for v in range(-2, 3):
            view = views[0, (u + 2) * 5 + (v + 2)]
            # view(y, x) = centre(y - u, x - v) wherever both lie inside the crop
            torch.testing.assert_close(view[2:14, 2:14], centre[2 - u : 14 - u, 2 - v : 14 - v])


def test_an_epipolar_plane_image_of_a_single_layer_has_slope_d():
    layer = _texture(seed=1)
    views = render_views(layer, torch.ones_like(layer), torch.tensor([[2.0]]), ang=5, size=16)
    epi = views[0].view(5, 5, 16, 16)[2, :, 8, :]  # the (v, x) plane at u = 0, y = 8: row v is shifted by 2 v
    for v in range(5):
        torch.testing.assert_close(epi[v, 5:11], epi[2, 5 - 2 * (v - 2) : 11 - 2 * (v - 2)])


def test_a_half_pixel_shift_is_the_mean_of_two_neighbours():
    img = _texture(size=8, seed=2)
    half = shift_images(img, torch.tensor([0.0]), torch.tensor([0.5]))
    torch.testing.assert_close(half[0, 0, :, 1:], (img[0, 0, :, 1:] + img[0, 0, :, :-1]) / 2)


def test_a_nearer_opaque_layer_occludes_the_background():
    back, front = torch.full((1, 1, 20, 20), 0.25), torch.zeros(1, 1, 20, 20)
    alpha = torch.zeros(1, 1, 20, 20)
    front[..., 8:12, 8:12], alpha[..., 8:12, 8:12] = 0.75, 1.0
    views = render_views(torch.cat([back, front], 1), torch.cat([torch.ones_like(back), alpha], 1),
                         torch.tensor([[0.0, 1.0]]), ang=3, size=20)  # fmt: skip
    assert views[0, 4, 8:12, 8:12].eq(0.75).all() and views[0, 4, :8].eq(0.25).all()
    assert views[0, 5, 8:12, 9:13].eq(0.75).all()  # view v = +1 sees the front square one pixel to the right


def test_scenes_are_seeded_in_range_and_hold_parallax():
    images = (_texture(6, 28, seed=3) * 255).to(torch.uint8)
    a, b, c = (
        layered_scenes(images, 4, seed=7),
        layered_scenes(images, 4, seed=7),
        layered_scenes(images, 4, seed=8),
    )
    assert a.shape == (4, 25, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert 0 <= a.min() and a.max() <= 1
    assert (a[:, 0] - a[:, 24]).abs().mean() > 0.01  # the corner views differ: the layers move between views


def test_the_degradation_shapes_and_the_psnr_of_a_known_error():
    hr = _texture(2, 16).expand(2, 25, 16, 16).contiguous()
    lr = downsample_views(hr, 2)
    assert lr.shape == (2, 25, 8, 8) and upsample_views(lr, 2).shape == hr.shape
    flat = torch.full((2, 25, 8, 8), 0.5)
    torch.testing.assert_close(downsample_views(torch.full((2, 25, 16, 16), 0.5), 2), flat)
    psnr = psnr_per_light_field(hr + 0.1, hr)  # MSE 0.01 on every view: 20 dB
    torch.testing.assert_close(psnr, torch.full((2,), 20.0, dtype=torch.float64))
