import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.random_projection import SparseRandomProjection

from subspacelab.subspace import (
    DenseProjection,
    FastfoodProjection,
    ProjectionBudgetError,
    SparseProjection,
    make_projection,
)

KINDS = ["dense", "sparse", "fastfood"]


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_matrix_other_seed_other_matrix(kind):
    a = make_projection(kind, 500, 20, seed=3).matrix()
    assert a.shape == (500, 20)
    assert torch.equal(a, make_projection(kind, 500, 20, seed=3).matrix())
    assert not torch.allclose(a, make_projection(kind, 500, 20, seed=4).matrix())


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_dense_and_sparse_columns_have_unit_length(kind):
    cols = make_projection(kind, 3000, 40, seed=0).matrix().norm(dim=0)
    assert torch.allclose(cols, torch.ones(40), atol=1e-5)


def test_fastfood_columns_have_unit_length_exactly_when_D_is_a_power_of_two():
    cols = FastfoodProjection(1024, 64, seed=1).matrix().norm(dim=0)
    assert torch.allclose(cols, torch.ones(64), atol=1e-5)


def test_fastfood_columns_have_unit_length_on_average_after_the_cut():
    cols = FastfoodProjection(1500, 200, seed=1).matrix().norm(dim=0)
    assert abs(float(cols.pow(2).mean()) - 1.0) < 0.05


@pytest.mark.parametrize("kind", KINDS)
def test_transpose_is_the_adjoint(kind):
    P = make_projection(kind, 700, 30, seed=5)
    g = torch.randn(700, requires_grad=False)
    z = torch.zeros(30, requires_grad=True)
    (P(z) * g).sum().backward()
    assert torch.allclose(z.grad, P.matrix().T @ g, atol=1e-4)


def test_sparse_projection_is_sklearns_matrix_normalised():
    D, d, seed = 2000, 25, 7
    comp = (
        SparseRandomProjection(n_components=d, random_state=seed)
        .fit(scipy.sparse.csr_matrix((1, D)))
        .components_
    )
    ref = np.asarray(comp.todense()).T
    ref /= np.linalg.norm(ref, axis=0, keepdims=True)
    assert np.allclose(SparseProjection(D, d, seed).matrix().numpy(), ref, atol=1e-6)
    density = SparseProjection(D, d, seed).nnz / (D * d)
    assert abs(density - 1 / np.sqrt(D)) < 0.5 / np.sqrt(D)


def test_fastfood_memory_is_O_D():
    P = FastfoodProjection(199_210, 10_000, seed=0)
    assert P.L == 262_144
    assert all(b.dim() <= 1 for b in P.buffers())  # no D x d matrix anywhere
    assert sum(b.numel() for b in P.buffers()) <= 4 * P.L + 1


def test_dense_projection_over_budget_is_refused_with_the_alternatives_named():
    with pytest.raises(ProjectionBudgetError, match="sparse.*fastfood"):
        DenseProjection(199_210, 10_000, seed=0, max_bytes=1024 * 2**20)


def test_d_larger_than_D_is_refused():
    with pytest.raises(ValueError, match="0 < d <= D"):
        make_projection("fastfood", 10, 11, seed=0)


def test_unknown_projection_lists_the_valid_ones():
    with pytest.raises(KeyError, match="dense, fastfood, sparse"):
        make_projection("gaussian", 10, 2, seed=0)


def test_loading_a_state_with_another_seed_is_refused():
    state = FastfoodProjection(100, 5, seed=1).state_dict()
    assert set(state) == {"seed_tensor"}  # the matrix itself is never stored
    with pytest.raises(ValueError, match="seed 1"):
        FastfoodProjection(100, 5, seed=2).load_state_dict(state)
