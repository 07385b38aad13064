"""The selective scan (models.selective_scan): the parallel scan equals the step-by-step recurrence, equals
transformers' reference of mamba_ssm's ``selective_scan_fn`` (and the CUDA kernel where it is installed), and gives
closed-form answers on known inputs, causal and reversed; its gradient equals the loop's."""

import pytest
import torch

from subspacelab.models.selective_scan import selective_scan, selective_scan_reference


def _inputs(b=2, d=6, length=11, n=4, groups=None, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen, dtype=dtype)  # noqa: E731
    bc = (b, n, length) if groups is None else (b, groups, n, length)
    return (
        r(b, d, length),
        r(b, d, length),
        -torch.rand(d, n, generator=gen, dtype=dtype) * 2,
        r(*bc),
        r(*bc),
        r(d),
        r(d),
    )


@pytest.mark.parametrize("groups", [None, 1, 3])
@pytest.mark.parametrize("length", [1, 11, 16])  # odd, one step, a power of two (mambapy pads to one)
def test_the_parallel_scan_equals_the_recurrence(groups, length):
    u, delta, A, B, C, D, bias = _inputs(length=length, groups=groups)
    fast = selective_scan(u, delta, A, B, C, D, delta_bias=bias, delta_softplus=True)
    slow = selective_scan_reference(u, delta, A, B, C, D, delta_bias=bias, delta_softplus=True)
    torch.testing.assert_close(fast, slow, atol=1e-12, rtol=1e-10)


def test_its_gradient_equals_the_recurrences():
    args = [t.requires_grad_() for t in _inputs(groups=3)]
    grads = []
    for scan in (selective_scan, selective_scan_reference):
        out = scan(*args[:6], delta_bias=args[6], delta_softplus=True)
        grads.append(torch.autograd.grad((out * torch.linspace(-1, 1, out.shape[-1])).sum(), args))
    for fast, slow in zip(*grads, strict=True):
        torch.testing.assert_close(fast, slow, atol=1e-10, rtol=1e-8)


def test_it_equals_transformers_reference_of_selective_scan_fn():
    from transformers.models.mamba.modeling_mamba import mamba_selective_scan

    u, delta, A, B, C, D, bias = _inputs(dtype=torch.float32)
    theirs = mamba_selective_scan(u, delta, A, B, C, D, delta_bias=bias, delta_softplus=True)
    torch.testing.assert_close(selective_scan(u, delta, A, B, C, D, bias, True), theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mamba_ssm's kernel runs on a GPU only")
def test_it_equals_the_cuda_kernel_where_installed():
    ops = pytest.importorskip("mamba_ssm.ops.selective_scan_interface")
    args = [t.float().cuda() for t in _inputs(groups=3, d=12)]
    theirs = ops.selective_scan_fn(*args[:6], delta_bias=args[6], delta_softplus=True)
    torch.testing.assert_close(selective_scan(*args[:6], args[6], True), theirs, atol=1e-4, rtol=1e-4)


def _known(length=6):
    """No decay (A = 0), unit steps, B = C = 1, one state: h_t = h_{t-1} + u_t, so y is the running sum."""
    u = torch.arange(1.0, length + 1, dtype=torch.float64).view(1, 1, length)
    ones = torch.ones(1, 1, length, dtype=torch.float64)
    return u, ones, torch.zeros(1, 1, dtype=torch.float64), ones, ones


def test_without_decay_the_scan_is_the_causal_running_sum():
    u, delta, A, B, C = _known()
    assert selective_scan(u, delta, A, B, C).flatten().tolist() == [1, 3, 6, 10, 15, 21]
    y = selective_scan(u, delta, A, B, C, D=torch.full((1,), 2.0, dtype=torch.float64))
    assert y.flatten().tolist() == [3, 7, 12, 18, 25, 33]  # + D u


def test_the_reversed_route_is_the_anticausal_running_sum_and_both_ways_see_everything():
    u, delta, A, B, C = _known()
    backward = selective_scan(u.flip(-1), delta, A, B, C).flip(-1)
    assert backward.flatten().tolist() == [21, 20, 18, 15, 11, 6]
    both = selective_scan(u, delta, A, B, C) + backward
    assert (both - u).flatten().tolist() == [21.0] * 6  # every position sums the whole sequence once


def test_with_a_decay_each_step_forgets_by_its_factor():
    u, delta, _, B, C = _known(4)
    A = torch.full((1, 1), -torch.log(torch.tensor(2.0, dtype=torch.float64)).item(), dtype=torch.float64)
    y = selective_scan(torch.tensor([[[8.0, 0, 0, 0]]], dtype=torch.float64), delta, A, B, C)
    torch.testing.assert_close(y.flatten(), torch.tensor([8.0, 4, 2, 1], dtype=torch.float64))


def test_a_future_input_never_reaches_an_earlier_output():
    u, delta, A, B, C, D, bias = _inputs()
    u2 = u.clone()
    u2[..., 7:] += 5.0
    a = selective_scan(u, delta, A, B, C, D, bias, True)
    b = selective_scan(u2, delta, A, B, C, D, bias, True)
    assert torch.equal(a[..., :7], b[..., :7]) and not torch.allclose(a[..., 7:], b[..., 7:])
