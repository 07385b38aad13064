"""MLFSR's network (``models.lfsr``): the subspace slices are bijections holding the right pixels, the mosaic puts
view (u, v) in tile (u, v), the attention mixer equals torch's scaled-dot-product attention, the scan mixer reads
both ways, the network's image residual is the bicubic upsample, the views are coupled, the arms' sizes match; and
the inference cost tool (``models.cost``) on known tensors."""

import pytest
import torch
from torch.nn import functional as F

from subspacelab.models.cost import inference_cost, peak_activation_bytes
from subspacelab.models.lfsr import (
    MIXERS,
    SUBSPACES,
    LightFieldSR,
    SelfAttention,
    SubspaceBlock,
    from_slices,
    make_mixer,
    mosaic_to_views,
    to_slices,
    views_to_mosaic,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _lf(b=2, c=3, ang=5, h=4, w=6):
    return torch.randn(b, c, ang * ang, h, w, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("subspace", list(SUBSPACES))
def test_slices_round_trip(subspace):
    x = _lf()
    assert torch.equal(from_slices(to_slices(x, 5, subspace), 5, subspace, x.shape), x)


def test_each_slice_holds_the_pixels_of_its_subspace():
    x = _lf()
    x6 = x.view(2, 3, 5, 5, 4, 6)  # (b, c, u, v, h, w)
    b, u, v, h, w = 1, 3, 2, 1, 4
    spatial = to_slices(x, 5, "spatial").view(2, 5, 5, 3, 4, 6)
    assert torch.equal(spatial[b, u, v], x6[b, :, u, v])  # per view: the (h, w) image
    angular = to_slices(x, 5, "angular").view(2, 4, 6, 3, 5, 5)
    assert torch.equal(angular[b, h, w], x6[b, :, :, :, h, w])  # per pixel: the (u, v) grid
    epi_uh = to_slices(x, 5, "epi_uh").view(2, 5, 6, 3, 5, 4)
    assert torch.equal(epi_uh[b, v, w], x6[b, :, :, v, :, w])  # fixed (v, w): the (u, h) plane
    epi_vw = to_slices(x, 5, "epi_vw").view(2, 5, 4, 3, 5, 6)
    assert torch.equal(epi_vw[b, u, h], x6[b, :, u, :, h, :])  # fixed (u, h): the (v, w) plane


def test_the_mosaic_puts_view_u_v_in_tile_u_v():
    x = _lf(ang=3)
    m = views_to_mosaic(x, 3)
    assert m.shape == (2, 3, 12, 18) and torch.equal(mosaic_to_views(m, 3), x)
    assert torch.equal(m[:, :, 4:8, 12:18], x[:, :, 1 * 3 + 2])


def test_the_attention_mixer_equals_scaled_dot_product_attention():
    torch.manual_seed(0)
    mixer, tokens = SelfAttention(8, 16, heads=2), torch.randn(3, 10, 8)
    q, k, v = mixer.qkv(tokens).view(3, 10, 3, 2, 8).permute(2, 0, 3, 1, 4)
    expected = mixer.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(3, 10, 16))
    torch.testing.assert_close(mixer(tokens, (2, 5)), expected)


@pytest.mark.parametrize("mixer", MIXERS)
def test_every_mixer_keeps_the_shape_and_which_tokens_it_reads(mixer):
    torch.manual_seed(0)
    m = make_mixer(mixer, 8, d_state=4)
    tokens = torch.randn(2, 16, 8, requires_grad=True)
    out = m(tokens, (4, 4))
    assert out.shape == tokens.shape
    out[0, 0].sum().backward()
    reach = tokens.grad[0].abs().sum(-1) > 0
    # global mixers (attention, the bidirectional scan) read the whole sequence; the 3 x 3 convolution its neighbours
    assert reach.all() if mixer != "conv" else reach.nonzero().flatten().tolist() == [0, 1, 4, 5]


def test_gradients_reach_the_backward_scan():
    torch.manual_seed(0)
    block = SubspaceBlock(8, "mamba", d_state=4)
    block(torch.randn(2, 8, 3, 5)).square().sum().backward()
    s6 = block.mixer.mamba.backward_s6
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in s6.parameters())


def test_the_image_residual_is_the_bicubic_upsample_and_the_views_are_coupled():
    torch.manual_seed(0)
    net = LightFieldSR("conv", channels=4, groups=1, ang=3, scale=2)
    lr = torch.rand(1, 9, 6, 6)
    sr, deep = net(lr)
    assert sr.shape == (1, 9, 12, 12) and deep.shape == (1, 4, 9, 6, 6)
    moved = lr.clone()
    moved[0, 8] += 0.5  # change only view (2, 2)
    assert (
        net(moved)[0][0, 0] - sr[0, 0]
    ).abs().max() > 0  # view (0, 0)'s output changes: the views are coupled
    torch.nn.init.zeros_(net.upsample[-1].weight)
    torch.nn.init.zeros_(net.upsample[-1].bias)
    bicubic = F.interpolate(lr.view(9, 1, 6, 6), scale_factor=2, mode="bicubic", align_corners=False)
    torch.testing.assert_close(net(lr)[0], bicubic.view(1, 9, 12, 12))


def test_the_three_arms_have_about_as_many_parameters_at_cpu_scale():
    sizes = {m: sum(p.numel() for p in LightFieldSR(m, 16, 1, d_state=4).parameters()) for m in MIXERS}
    assert max(sizes.values()) / min(sizes.values()) < 1.1, sizes


def test_peak_memory_counts_the_intermediates_not_the_weights():
    lin = torch.nn.Linear(64, 8)
    x = torch.randn(32, 64)
    assert peak_activation_bytes(lambda: lin(x)) == 32 * 8 * 4  # the output; the weights are taken off

    class Scores(torch.nn.Module):
        def forward(self, q):
            return torch.softmax(q @ q.T, -1)

    for n in (16, 64):
        q = torch.randn(n, 4)
        got = peak_activation_bytes(lambda q=q: Scores()(q))
        assert (
            2 * n * n * 4 <= got <= 2 * n * n * 4 + q.numel() * 4
        )  # scores and softmax (and maybe the input)
    cost = inference_cost(lin, x)
    assert cost["seconds"] >= 0 and cost["peak_mb"] == pytest.approx(32 * 8 * 4 / 2**20, abs=1e-3)
