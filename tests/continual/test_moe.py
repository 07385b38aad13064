"""The mixture of low-rank experts (``continual.moe``): the frozen map while every B is 0, routing weights that sum
to 1 over the top-k allowed experts, held experts without gradient, orthogonal experts blind to the held experts'
input directions, the pool's allocation, iGSP's pruning by routing mass; and the paired stream (the same images,
deranged labels every second task)."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from subspacelab.continual.moe import IGSP, MoEAdapterLinear
from subspacelab.continual.streams import make_stream


def _layer(experts=6, rank=2, tasks=2, top_k=2, seed=0):
    torch.manual_seed(seed)
    return MoEAdapterLinear(nn.Linear(5, 4), experts, rank, tasks, top_k)


def _filled(layer, experts, task=0, seed=1):
    gen = torch.Generator().manual_seed(seed)
    got = layer.allocate(len(experts), task, gen)
    layer.start_router(task, gen)
    with torch.no_grad():
        layer.allowed[task, got] = True
        layer.B[got] = torch.randn(layer.B[got].shape, generator=gen)
    return got


def test_with_every_b_zero_the_layer_is_its_frozen_linear_map():
    layer = _layer()
    base = nn.Linear(5, 4)
    base.load_state_dict({"weight": layer.weight.detach(), "bias": layer.bias.detach()})
    gen = torch.Generator().manual_seed(3)
    got = layer.allocate(3, 0, gen)
    with torch.no_grad():
        layer.allowed[0, got] = True
    layer.start_router(0, gen)
    x = torch.randn(7, 5)
    torch.testing.assert_close(layer(x), base(x))


@pytest.mark.parametrize("allowed,k", [(4, 2), (1, 1), (0, 0)])
def test_routing_mixes_the_top_k_allowed_experts(allowed, k):
    layer = _layer(top_k=2)
    if allowed:
        _filled(layer, range(allowed))
    with torch.no_grad():
        pi = layer.routing(torch.randn(9, 5))
    assert pi.shape == (9, 6) and bool((pi >= 0).all())
    assert torch.equal((pi > 0).sum(1), torch.full((9,), k))
    if k:
        torch.testing.assert_close(pi.sum(1), torch.ones(9))
        assert float(pi[:, allowed:].abs().sum()) == 0.0


def test_held_experts_get_no_gradient_and_trainable_ones_do():
    layer = _layer()
    got = _filled(layer, range(4))
    with torch.no_grad():
        layer.trainable[got[:2]] = True
    layer(torch.randn(16, 5)).pow(2).sum().backward()
    assert float(layer.A.grad[got[2:]].abs().sum()) == 0 and float(layer.B.grad[got[2:]].abs().sum()) == 0
    assert float(layer.B.grad[got[:2]].abs().sum()) > 0
    assert layer.weight.grad is None


def test_orthogonal_experts_ignore_the_held_experts_input_directions():
    layer = _layer(experts=4, rank=1)
    held, new = _filled(layer, range(2)), None
    gen = torch.Generator().manual_seed(5)
    new = layer.allocate(2, 0, gen)
    with torch.no_grad():
        layer.allowed[0] = False
        layer.allowed[0, new] = True
        layer.B[new] = torch.randn(layer.B[new].shape, generator=gen)
    layer.hold_inputs(held)
    p = layer.held_inputs
    torch.testing.assert_close(p @ p, p, atol=1e-6, rtol=0)
    torch.testing.assert_close(p, p.T)
    assert round(float(torch.trace(p))) == 2
    x = torch.randn(6, 5) @ p  # inputs inside the held directions
    plain = torch.nn.functional.linear(x, layer.weight, layer.bias)
    assert not torch.allclose(layer(x), plain, atol=1e-5)  # the new experts read them ...
    with torch.no_grad():
        layer.orthogonal[new] = True
    torch.testing.assert_close(layer(x), plain, atol=1e-5, rtol=0)  # ... until they are made orthogonal


def test_the_pool_allocates_free_experts_and_refuses_when_full():
    layer = _layer(experts=3)
    gen = torch.Generator().manual_seed(0)
    assert layer.allocate(2, 0, gen) == [0, 1]
    layer.release([0])
    assert layer.allocate(2, 1, gen) == [0, 2] and layer.owner.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="pool of 3 is full"):
        layer.allocate(1, 1, gen)


def test_igsp_prunes_the_candidates_the_router_does_not_use():
    cfg = SimpleNamespace(moe_experts=6, moe_rank=2, moe_tasks=2, moe_top_k=2, lora_alpha=1.0, lora_seed=0,
                          moe_candidates=3, moe_prune_below=0.05, moe_penalty=0.1)  # fmt: skip
    net = SimpleNamespace(proj=nn.Linear(5, 4))
    method = IGSP(cfg)
    method.setup(net)
    feats = torch.randn(50, 5, generator=torch.Generator().manual_seed(0)) + 2.0  # a mean to route by
    method.begin_task(net, feats, 0)
    layer = net.proj
    with torch.no_grad():  # the router prefers candidate 0 everywhere, candidate 2 never
        layer.router[0] = 0.0
        layer.router[0, method.candidates[0]] = 10 * feats.mean(0)
        layer.router[0, method.candidates[2]] = -10 * feats.mean(0)
    assert (
        float(method.penalty(SimpleNamespace(proj=layer))) == 0.0
    )  # no forward pass yet: nothing to penalise
    layer(feats)
    assert float(method.penalty(net).detach()) == pytest.approx(
        0.1, rel=1e-5
    )  # all the mass is on candidates
    decided = method.identify(net)
    assert method.candidates[2] in decided["pruned"] and method.candidates[0] in decided["survivors"]
    assert int(layer.owner[method.candidates[2]]) == -1 and method.penalty(net) == 0.0


def test_the_paired_stream_repeats_images_with_deranged_labels():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (200, 1, 28, 28), generator=g, dtype=torch.uint8)
    y = torch.arange(200) % 10
    tasks = make_stream("paired", {"train": (x, y), "test": (x, y)}, 4, seed=0, n_train=50, n_test=50)
    assert torch.equal(tasks[0].permutation, tasks[1].permutation)
    assert not torch.equal(tasks[1].permutation, tasks[2].permutation)
    assert torch.equal(tasks[0].permutation, torch.arange(784))

    def label_map(t):  # each original image's label in task t
        rows = {tuple(r.tolist()): int(lab) for r, lab in zip(t.x_train[:, :50], t.y_train, strict=True)}
        return rows

    a, b = label_map(tasks[0]), label_map(tasks[1])
    shared = set(a) & set(b)
    assert shared and all(a[k] != b[k] for k in shared)  # the same images, every label moved


def test_folding_the_orthogonal_experts_keeps_the_function_when_the_projector_moves():
    layer = _layer(experts=4, rank=1)
    held = _filled(layer, range(2))
    new = layer.allocate(2, 0, torch.Generator().manual_seed(6))
    with torch.no_grad():
        layer.allowed[0, new] = True
        layer.B[new] = 1.0
        layer.orthogonal[new] = True
    layer.hold_inputs(held)
    x = torch.randn(8, 5)
    before = layer(x).detach()
    layer.fold_orthogonal()
    assert not bool(layer.orthogonal.any())
    layer.hold_inputs(held + new)  # a later task's projector
    torch.testing.assert_close(layer(x).detach(), before, atol=1e-5, rtol=0)
