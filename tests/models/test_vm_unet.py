"""Scan routes and the VM-UNet mixers (models.scan_routes, models.vm_unet): the routes are the orders of MHS-VM's
``scanutils.py`` (printed from the official functions on a 4 x 4 grid, docs/research/mhs_vm.md 2.2) and
bijections at any size; cross_merge undoes cross_scan; the route attention's closed-form range and invariances; the
mixers' parameter counts equal the tensors of the official modules (SS2D of VM-UNet, VSSGate + MHSM of MHS-VM)."""

import pytest
import torch

from subspacelab.models import scan_routes as sr
from subspacelab.models.vm_unet import SS2D, MHSMixer, VMUNet, route_gate

STEPS_4x4 = {  # the step index at each cell, (route 0, route 1) of each pattern
    "C": ("0 1 2 3/7 6 5 4/8 9 10 11/15 14 13 12", "0 7 8 15/1 6 9 14/2 5 10 13/3 4 11 12"),
    "X": ("0 1 5 6/2 4 7 12/3 8 11 13/9 10 14 15", "6 5 1 0/12 7 4 2/13 11 8 3/15 14 10 9"),
    "S": ("0 1 2 3/11 12 13 4/10 15 14 5/9 8 7 6", "9 8 7 6/10 15 14 5/11 12 13 4/0 1 2 3"),
    "Z": ("0 1 2 3/4 5 6 7/8 9 10 11/12 13 14 15", "0 4 8 12/1 5 9 13/2 6 10 14/3 7 11 15"),
}


def _grid(text):
    return torch.tensor([[int(v) for v in row.split()] for row in text.split("/")])


@pytest.mark.parametrize("pattern", "CXSZ")
def test_each_pattern_visits_the_cells_in_the_official_order(pattern):
    routes = sr.pattern_routes(pattern, 4, 4)
    for k, expected in ((0, STEPS_4x4[pattern][0]), (2, STEPS_4x4[pattern][1])):
        assert torch.equal(torch.argsort(routes[k]).view(4, 4), _grid(expected))
        assert torch.equal(routes[k + 1], routes[k].flip(0))  # each followed by its reverse


@pytest.mark.parametrize("h, w", [(1, 1), (3, 5), (7, 7), (8, 4)])
def test_every_route_is_a_bijection_and_merge_undoes_scan(h, w):
    routes = torch.cat([sr.pattern_routes(p, h, w) for p in "CXSZ"])
    assert all(torch.equal(r.sort().values, torch.arange(h * w)) for r in routes)
    x = torch.randn(2, 3, h, w)
    merged = sr.cross_merge(sr.cross_scan(x, routes), routes)
    assert torch.equal(merged, x.flatten(2)[:, None].expand(-1, len(routes), -1, -1))


def test_consecutive_routes_step_between_neighbouring_cells():
    for make in (sr.snake_rows, sr.snake_cols, sr.spiral, sr.spiral_flipped):
        i, j = make(5, 6) // 6, make(5, 6) % 6
        assert ((i.diff().abs() + j.diff().abs()) == 1).all()  # C and S never jump
    i, j = sr.diagonal(5, 6) // 6, sr.diagonal(5, 6) % 6
    assert ((i.diff().abs() <= 1) & (j.diff().abs() <= 1)).all()  # X moves to one of the 8 neighbours


def test_the_route_gate_weight_lies_in_two_thirds_to_two_minus_t_and_ignores_shift_and_scale():
    y = torch.randn(3, 4, 5, 64, dtype=torch.float64)
    weight = route_gate(y, 0.0) / y.sum(1)
    assert weight.min() >= 2 / 3 - 1e-3 and weight.max() <= 2 + 1e-9
    shifted = route_gate(3 * y + 7, 0.5) / (3 * y + 7).sum(1)
    torch.testing.assert_close(
        shifted, route_gate(y, 0.5) / y.sum(1), atol=1e-3, rtol=0
    )  # up to the 1e-5 guards
    edge = torch.tensor([[0.0, 0, 0, 1], [0, 1, 1, 1]], dtype=torch.float64).T.reshape(1, 4, 1, 2)
    torch.testing.assert_close(route_gate(edge, 0.0) / edge.sum(1), torch.tensor([[[2.0, 2 / 3]]], dtype=torch.float64),
                               atol=1e-4, rtol=0)  # fmt: skip


def test_the_route_gate_has_a_finite_gradient_where_the_routes_agree():
    y = torch.ones(1, 4, 2, 3, requires_grad=True)
    route_gate(y, 0.0).sum().backward()
    assert torch.isfinite(y.grad).all()


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "dim, ss2d, mhs3, mhs4",
    [(96, 105_216, 58_944, 58_944), (192, 339_456, 194_688, 193_152), (384, 1_195_008, 696_576, 690_432)],
)
def test_mixer_parameters_equal_the_official_modules(dim, ss2d, mhs3, mhs4):
    assert _count(SS2D(dim, 16)) == ss2d
    assert _count(MHSMixer(dim, 3, 16)) == mhs3 and _count(MHSMixer(dim, 4, 16)) == mhs4


def test_the_small_networks_have_the_counted_sizes_and_segment_every_pixel():
    sizes = {m: _count(VMUNet(m)) for m in ("ss2d", "mhs", "mhs_sum", "ss2d_expand1")}
    assert sizes == {"ss2d": 138_041, "mhs": 86_969, "mhs_sum": 86_969, "ss2d_expand1": 79_929}
    assert VMUNet("mhs")(torch.randn(2, 1, 32, 32)).shape == (2, 1, 32, 32)


def test_route_attention_and_sum_differ_only_in_the_fusion():
    torch.manual_seed(0)
    a = VMUNet("mhs", dims=(16, 32))
    torch.manual_seed(0)
    b = VMUNet("mhs_sum", dims=(16, 32))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    x = torch.randn(2, 1, 16, 16)
    assert not torch.allclose(a(x), b(x))
