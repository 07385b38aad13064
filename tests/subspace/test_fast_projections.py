"""The fast paths (CSR sparse products, block-aware Fastfood, rotated-GEMM FWHT) against the
straightforward computation of the same P, and against values recorded before they existed."""

import math

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.random_projection import SparseRandomProjection

from subspacelab.subspace import FastfoodProjection, SparseProjection
from subspacelab.subspace.fwht import hadamard_matrix


def fastfood_reference(D: int, d: int, seed: int) -> torch.Tensor:
    """scale * (H G Pi H B)[:D, :d] built densely in float64 from the seed's draws, in the order the
    projection draws them (B, then Pi, then G)."""
    L = 1 << max(0, math.ceil(math.log2(D)))
    g = torch.Generator().manual_seed(seed)
    B = torch.randint(0, 2, (L,), generator=g).double() * 2 - 1
    Pi = torch.randperm(L, generator=g)
    G = torch.randn(L, generator=g).double()
    H = hadamard_matrix(L, torch.float64)
    M = H @ torch.diag(G) @ torch.eye(L, dtype=torch.float64)[Pi] @ H @ torch.diag(B)
    scale = 1.0 / (math.sqrt(L * float(G.pow(2).sum())) * math.sqrt(D / L))
    return scale * M[:D, :d]


def sparse_reference(D: int, d: int, seed: int) -> np.ndarray:
    comp = SparseRandomProjection(n_components=d, random_state=seed).fit(scipy.sparse.csr_matrix((1, D)))
    ref = np.asarray(comp.components_.todense(), dtype=np.float64).T
    norms = np.linalg.norm(ref, axis=0, keepdims=True)
    return ref / np.where(norms == 0, 1.0, norms)


# (D, d): block of d smaller than L, d = D = L, d spanning the whole L, d = 1, D not a power of two
SHAPES = [(700, 30), (1024, 1024), (900, 600), (300, 1), (5, 5), (2048, 129)]


@pytest.mark.parametrize("D, d", SHAPES)
def test_fastfood_matches_the_dense_product_and_its_transpose(D, d):
    P, ref = FastfoodProjection(D, d, seed=11), fastfood_reference(D, d, seed=11)
    gen = torch.Generator().manual_seed(0)
    z, g = torch.randn(d, generator=gen), torch.randn(D, generator=gen)
    z.requires_grad_(True)
    y = P(z)
    (y * g).sum().backward()
    torch.testing.assert_close(y.double(), ref @ z.detach().double(), atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(z.grad.double(), ref.T @ g.double(), atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", [FastfoodProjection, SparseProjection])
def test_a_batch_of_columns_is_projected_column_by_column(kind):
    P = kind(900, 70, seed=2)
    Z = torch.randn(70, 3, generator=torch.Generator().manual_seed(1))
    cols = torch.stack([P(Z[:, j]) for j in range(3)], dim=1)
    torch.testing.assert_close(P(Z), cols, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("D, d", [(2000, 25), (3000, 300)])
def test_sparse_product_and_gradient_match_the_dense_matrix(D, d):
    P, ref = SparseProjection(D, d, seed=7), torch.from_numpy(sparse_reference(D, d, seed=7))
    gen = torch.Generator().manual_seed(3)
    z, g = torch.randn(d, generator=gen, requires_grad=True), torch.randn(D, generator=gen)
    y = P(z)
    (y * g).sum().backward()
    torch.testing.assert_close(y.double(), ref @ z.detach().double(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(z.grad.double(), ref.T @ g.double(), atol=1e-6, rtol=1e-5)


# P z and P^T g at the benchmark's scale (D = 199,210 as the MNIST FC, d = 1,000, seed 0), recorded with
# the code before issue 28 (Kronecker FWHT, 64-bit CSR): the faster paths must give the same projection.
# z = linspace(-1, 1, d); g = cos(0, 1, ..., D - 1); y at rows 0, 1, D // 3, D - 1; grad at 0, d // 2, d - 1.
RECORDED = {
    FastfoodProjection: (
        [-4.16258834e-02, 2.03713607e-02, -8.58825520e-02, -4.78979433e-03],
        1.82683074e01,
        [1.16841137e-01, -3.86839867e-01, -3.88525605e-01],
        2.09499255e01,
    ),
    SparseProjection: (
        [-1.64066628e-03, 1.68850087e-02, 7.63165057e-02, 7.62324175e-03],
        1.82458290e01,
        [-7.34043360e-01, -4.80783492e-01, 1.31517565e00],
        2.20350195e01,
    ),
}


@pytest.mark.parametrize("kind", list(RECORDED))
def test_the_projection_at_benchmark_scale_is_the_one_recorded_before_the_fast_paths(kind):
    D, d = 199_210, 1000
    y_at, y_norm, grad_at, grad_norm = RECORDED[kind]
    P = kind(D, d, seed=0)
    z = torch.linspace(-1, 1, d).requires_grad_(True)
    g = torch.cos(torch.arange(D, dtype=torch.float32))
    y = P(z)
    (y * g).sum().backward()
    close = dict(rtol=2e-5, atol=2e-6)
    torch.testing.assert_close(
        y[[0, 1, D // 3, D - 1]].double(), torch.tensor(y_at, dtype=torch.float64), **close
    )
    torch.testing.assert_close(
        z.grad[[0, d // 2, d - 1]].double(), torch.tensor(grad_at, dtype=torch.float64), **close
    )
    assert float(y.detach().double().norm()) == pytest.approx(y_norm, rel=1e-6)
    assert float(z.grad.double().norm()) == pytest.approx(grad_norm, rel=1e-6)
