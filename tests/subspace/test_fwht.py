import torch
from hadamard_transform import hadamard_transform
from hypothesis import given, settings
from hypothesis import strategies as st

from subspacelab.subspace.fwht import fwht, hadamard_matrix


@settings(max_examples=25, deadline=None)
@given(bits=st.integers(0, 13), cols=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_fwht_equals_the_hadamard_matrix(bits, cols, seed):
    n = 1 << bits
    x = torch.randn(n, cols, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(fwht(x), hadamard_matrix(n, torch.float64) @ x, atol=1e-9 * n)


def test_fwht_matches_the_hadamard_transform_library():
    x = torch.randn(4, 2**12, dtype=torch.float64)
    ours = fwht(x.T, normalize=True).T
    assert torch.allclose(ours, hadamard_transform(x), atol=1e-10)


def test_normalized_fwht_is_its_own_inverse():
    x = torch.randn(2**15, dtype=torch.float64)
    assert torch.allclose(fwht(fwht(x, normalize=True), normalize=True), x, atol=1e-10)


def test_fwht_gradient():
    x = torch.randn(64, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fwht, (x,))


def test_fwht_rejects_lengths_that_are_not_powers_of_two():
    try:
        fwht(torch.ones(12))
    except ValueError as err:
        assert "power-of-two" in str(err)
    else:
        raise AssertionError("no error")
