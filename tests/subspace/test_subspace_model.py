import io

import pytest
import torch
from torch import nn

from subspacelab.methods.intrinsic import random_subspace
from subspacelab.models import build_model
from subspacelab.models.vision import MLP, LeNet
from subspacelab.subspace import SubspaceModel, make_projection

KINDS = ["dense", "sparse", "fastfood"]


def small_net(seed=0):
    return build_model(MLP, seed, in_shape=(1, 6, 6), num_classes=4, width=8, depth=2)


def flat_params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


@pytest.mark.parametrize("kind", KINDS)
def test_z_zero_reproduces_theta0_exactly(kind):
    x = torch.randn(5, 1, 6, 6)
    base = small_net()
    expected = base(x)
    sm = random_subspace(small_net(), d=10, projection=kind)
    assert torch.equal(sm(x), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_wrt_z_is_P_transpose_gradient_wrt_theta(kind):
    torch.manual_seed(0)
    x, y = torch.randn(7, 1, 6, 6), torch.randint(0, 4, (7,))
    sm = random_subspace(small_net(), d=12, projection=kind, projection_seed=3)
    with torch.no_grad():
        sm.z.normal_()
    nn.functional.cross_entropy(sm(x), y).backward()
    # the same loss as a function of the full parameter vector theta = theta0 + P z
    theta = {n: p.detach().clone().requires_grad_(True) for n, p in sm.effective_parameters().items()}
    nn.functional.cross_entropy(torch.func.functional_call(sm.module, theta, (x,)), y).backward()
    grad_theta = torch.cat([theta[n].grad.flatten() for n, _ in sm.module.named_parameters()])
    P = sm.projection.matrix()
    assert torch.allclose(sm.z.grad, P.T @ grad_theta, atol=1e-5)


def test_only_z_is_trained():
    sm = random_subspace(small_net(), d=10)
    x, y = torch.randn(3, 1, 6, 6), torch.randint(0, 4, (3,))
    nn.functional.cross_entropy(sm(x), y).backward()
    assert [n for n, p in sm.named_parameters() if p.requires_grad] == ["z"]
    assert all(p.grad is None for p in sm.module.parameters())
    assert sm.z.grad is not None and sm.z.grad.abs().sum() > 0


def test_effective_parameters_are_theta0_plus_Pz_and_materialize_keeps_the_function():
    sm = random_subspace(small_net(), d=10, projection="dense")
    with torch.no_grad():
        sm.z.normal_()
    flat = torch.cat([p.flatten() for p in sm.effective_parameters().values()])
    assert torch.allclose(flat, flat_params(small_net()) + sm.projection.matrix() @ sm.z, atol=1e-6)
    x = torch.randn(4, 1, 6, 6)
    out = sm(x).detach()
    assert torch.allclose(sm.materialize()(x), out, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_reload_rebuilds_the_random_subspace_from_the_saved_seed(kind):
    sm = random_subspace(small_net(), d=10, projection=kind, projection_seed=11)
    with torch.no_grad():
        sm.z.normal_()
    buf = io.BytesIO()
    torch.save(sm.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    seed = int(state["projection.seed_tensor"])
    rebuilt = SubspaceModel(small_net(), make_projection(kind, sm.D, sm.d, seed))
    rebuilt.load_state_dict(state)
    assert torch.equal(rebuilt.projection.matrix(), sm.projection.matrix())
    x = torch.randn(3, 1, 6, 6)
    assert torch.equal(rebuilt(x), sm(x))


def test_projection_dimension_must_match_the_module():
    with pytest.raises(ValueError, match="parameters"):
        SubspaceModel(small_net(), make_projection("dense", 10, 2, seed=0))


def test_paper_networks_have_the_papers_parameter_counts():
    assert sum(p.numel() for p in build_model(MLP, 0).parameters()) == 199_210
    assert sum(p.numel() for p in build_model(LeNet, 0).parameters()) == 44_426
