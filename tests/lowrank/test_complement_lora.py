"""Comp-LoRA's layer (``lowrank.complement``): its update has no component in the excluded singular subspace on either
side, equals the complement-basis form U_c U_c^T (s B A) V_c V_c^T built from a full SVD, keeps W's top singular
values among those of W + dW, is LoRA exactly when nothing is excluded, and trains only A and B."""

import pytest
import torch
from torch import nn

from subspacelab.lowrank.complement import (
    ComplementLoRALinear,
    principal_bases,
    principal_leak,
    remove_component,
)
from subspacelab.lowrank.lora import LoRALinear, inject_lora


def _base(m=12, n=9, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(n, m).double()


def _layer(k=3, r=2, seed=0):
    layer = ComplementLoRALinear(_base(seed=seed), r=r, excluded_rank=k, alpha=4.0)
    with torch.no_grad():  # a trained-looking update: B = 0 at init would make every check trivial
        layer.lora_B.normal_(generator=torch.Generator().manual_seed(seed + 1))
    return layer


def test_the_principal_bases_are_orthonormal_and_are_the_top_singular_vectors():
    w = _base().weight
    u, v = principal_bases(w, 3)
    torch.testing.assert_close(u.T @ u, torch.eye(3, dtype=w.dtype))
    torch.testing.assert_close(v.T @ v, torch.eye(3, dtype=w.dtype))
    s = torch.linalg.svdvals(w)
    torch.testing.assert_close(torch.diag(u.T @ w @ v), s[:3])  # u_i^T W v_i = sigma_i


@pytest.mark.parametrize("k", [1, 3, 7])
def test_the_update_has_no_component_in_the_excluded_subspace(k):
    layer = _layer(k=k)
    d, u, v = layer.delta(), layer.u_principal, layer.v_principal
    assert torch.linalg.matrix_norm(d) > 0.1
    assert torch.linalg.matrix_norm(u.T @ d) < 1e-12 and torch.linalg.matrix_norm(d @ v) < 1e-12
    assert principal_leak(layer) < 1e-12


def test_the_update_equals_the_complement_basis_form():
    layer = _layer(k=4)
    u, _, vh = torch.linalg.svd(layer.weight, full_matrices=True)
    uc, vc = u[:, 4:], vh[4:].T
    expected = uc @ uc.T @ (layer.scaling * layer.lora_B @ layer.lora_A) @ vc @ vc.T
    torch.testing.assert_close(layer.delta(), expected, atol=1e-12, rtol=0)


def test_the_forward_applies_the_merged_weight_and_keeps_the_top_singular_values():
    layer = _layer(k=3)
    x = torch.randn(5, 9, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ layer.merged_weight().T + layer.bias, atol=1e-12, rtol=0)
    top = torch.linalg.svdvals(layer.weight)[:3]
    after = torch.linalg.svdvals(layer.merged_weight().detach())
    for (
        s
    ) in top:  # W + dW = U_p S_p V_p^T + (a part orthogonal to U_p and V_p): sigma_1..3 stay singular values
        assert float((after - s).abs().min()) < 1e-10


def test_nothing_excluded_is_lora_exactly():
    torch.manual_seed(0)
    base = nn.Linear(9, 12)
    gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    ours, lora = ComplementLoRALinear(base, 2, 0, generator=gen()), LoRALinear(base, 2, generator=gen())
    with torch.no_grad():
        for layer in (ours, lora):
            layer.lora_B.fill_(0.3)
    x = torch.randn(4, 9)
    assert torch.equal(ours(x), lora(x)) and torch.equal(ours.delta(), lora.delta())


def test_only_a_and_b_train_and_the_bases_travel_in_the_state_dict():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    inject_lora(net, ["0"], r=2, layer_cls=ComplementLoRALinear, excluded_rank=2)
    assert sorted(n for n, p in net.named_parameters() if p.requires_grad) == [
        "0.lora_A", "0.lora_B", "2.bias", "2.weight"]  # fmt: skip
    assert {"0.u_principal", "0.v_principal"} <= set(net.state_dict())
    net(torch.randn(3, 8)).sum().backward()
    assert net[0].lora_A.grad is not None and net[0].weight.grad is None


def test_remove_component_is_a_projection():
    basis, _ = torch.linalg.qr(torch.randn(7, 2, dtype=torch.float64))
    x = torch.randn(4, 7, dtype=torch.float64)
    once = remove_component(x, basis)
    torch.testing.assert_close(remove_component(once, basis), once)
    torch.testing.assert_close(once @ basis, torch.zeros(4, 2, dtype=torch.float64))


@pytest.mark.parametrize("k", [-1, 8])
def test_an_excluded_rank_leaving_no_room_is_refused(k):
    with pytest.raises(ValueError, match="excluded_rank"):
        ComplementLoRALinear(_base(m=12, n=9), r=2, excluded_rank=k)
