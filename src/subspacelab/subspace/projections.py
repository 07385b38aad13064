"""Random projections P: R^d -> R^D, each column of unit length, regenerated from a seed.

These follow the normalisation of the official code of Li et al. (2018),
``uber-research/intrinsic-dimension``:

* dense: i.i.d. N(0, 1) entries, each of the d columns scaled to unit length over all D entries;
* sparse: the Achlioptas/Li very sparse matrix of scikit-learn's ``SparseRandomProjection``
  (density 1/sqrt(D)), columns scaled to unit length;
* Fastfood: P = S H G Pi H B (one block of length L = 2^ceil(log2 D), input zero-padded to L,
  output cut to D), divided by sqrt(L * ||G||^2) * sqrt(D / L) so that columns have unit
  length in expectation. It is never materialised: O(D) memory, O(D log D) time.

The random state never enters a checkpoint: only the seed does (a persistent buffer), and the
matrices are non-persistent buffers rebuilt from it with a private ``torch.Generator``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from subspacelab.subspace.fwht import fwht


class ProjectionBudgetError(MemoryError):
    """A dense projection would not fit in the configured memory budget."""


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


class Projection(nn.Module):
    """Base class: maps z of shape (d,) or (d, k) to P z of shape (D,) or (D, k)."""

    kind = "abstract"

    def __init__(self, D: int, d: int, seed: int):
        super().__init__()
        if not 0 < d <= D:
            raise ValueError(f"subspace dimension d must satisfy 0 < d <= D, got d={d}, D={D}")
        self.D, self.d, self.seed = int(D), int(d), int(seed)
        # Saved with the model so that a reload can check it rebuilds the same subspace.
        self.register_buffer("seed_tensor", torch.tensor(self.seed, dtype=torch.int64))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved = state_dict.get(prefix + "seed_tensor")
        if saved is not None and int(saved) != self.seed:
            raise ValueError(
                f"checkpoint was trained in the subspace of seed {int(saved)}, but this projection "
                f"was built with seed {self.seed}; rebuild it with seed={int(saved)}"
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def matrix(self) -> torch.Tensor:
        """The dense D x d matrix (for tests and small problems only)."""
        eye = torch.eye(self.d, device=self.seed_tensor.device)
        return self(eye)

    def extra_repr(self) -> str:
        return f"D={self.D}, d={self.d}, seed={self.seed}"


class DenseProjection(Projection):
    kind = "dense"

    def __init__(self, D: int, d: int, seed: int, max_bytes: int | None = None):
        super().__init__(D, d, seed)
        nbytes = D * d * 4
        if max_bytes is not None and nbytes > max_bytes:
            raise ProjectionBudgetError(
                f"a dense projection for D={D:,} and d={d:,} needs {nbytes / 2**20:,.0f} MiB, over the "
                f"budget of {max_bytes / 2**20:,.0f} MiB (method.dense_max_mib). Use "
                "method.projection=sparse or method.projection=fastfood, which need O(D) memory."
            )
        P = torch.randn(D, d, generator=_generator(seed))
        P /= P.norm(dim=0, keepdim=True)
        self.register_buffer("P", P, persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.P @ z


class SparseProjection(Projection):
    kind = "sparse"

    def __init__(self, D: int, d: int, seed: int, density: float | str = "auto"):
        super().__init__(D, d, seed)
        import scipy.sparse
        from sklearn.random_projection import SparseRandomProjection

        srp = SparseRandomProjection(n_components=d, density=density, random_state=seed)
        comp = srp.fit(scipy.sparse.csr_matrix((1, D), dtype="float32")).components_.tocsr()  # d x D
        norms = scipy.sparse.linalg.norm(comp, axis=1)
        norms[norms == 0] = 1.0  # an empty basis vector stays zero
        comp = scipy.sparse.diags(1.0 / norms) @ comp
        # P and its transpose, both row-sorted CSR with 32-bit indices: each product is one pass over
        # rows with no scatter (so no atomics), and the indices are the layout MKL's sparse BLAS takes
        # without converting them on every call (64-bit indices made each product 1.5-2x slower).
        self.register_buffer("P", _to_torch_csr(comp.T.tocsr()), persistent=False)  # D x d
        self.register_buffer("Pt", _to_torch_csr(comp), persistent=False)  # d x D, for backward

    @property
    def nnz(self) -> int:
        return int(self.P.values().numel())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _LinearMap.apply(z, self.P, self.Pt)


def _to_torch_csr(m) -> torch.Tensor:
    import numpy as np

    return torch.sparse_csr_tensor(
        torch.from_numpy(m.indptr.astype(np.int32)),
        torch.from_numpy(m.indices.astype(np.int32)),
        torch.from_numpy(m.data.astype(np.float32)),
        m.shape,
        check_invariants=False,
    )


def _sparse_product(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A x for a sparse CSR A and x of shape (n,) or (n, k); a vector takes the matrix-vector kernel."""
    return torch.mv(A, x) if x.dim() == 1 else A @ x


class _LinearMap(torch.autograd.Function):
    """y = A z with A given together with its transpose (sparse CSR both), so backward is a CSR product."""

    @staticmethod
    def forward(ctx, z, A, At):  # noqa: D102
        ctx.save_for_backward(At)
        return _sparse_product(A, z)

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        (At,) = ctx.saved_tensors
        return _sparse_product(At, g.contiguous()), None, None


class FastfoodProjection(Projection):
    kind = "fastfood"

    def __init__(self, D: int, d: int, seed: int):
        super().__init__(D, d, seed)
        L = 1 << max(0, math.ceil(math.log2(D)))
        g = _generator(seed)
        B = torch.randint(0, 2, (L,), generator=g).float() * 2 - 1
        Pi = torch.randperm(L, generator=g)
        G = torch.randn(L, generator=g)
        self.L = L
        # sqrt(L * ||G||^2) makes the L-long columns unit length; sqrt(D/L) corrects for the cut.
        self.scale = 1.0 / (math.sqrt(L * float(G.pow(2).sum())) * math.sqrt(D / L))
        # z lives on the first d of the L inputs, so the first transform only needs the leading block of
        # b = 2^ceil(log2 d) entries: with H_L = H_{L/b} (x) H_b, H_L [u; 0] = [h; h; ...; h], h = H_b u.
        # Its permuted entries are h[Pi mod b]; in the transpose, only the first b outputs of the last
        # transform are kept, and they are H_b applied to the sum of the L/b blocks of its input.
        self.block = 1 << max(0, math.ceil(math.log2(d)))
        self.register_buffer("B", B[:d].clone(), persistent=False)  # the only signs that meet z
        self.register_buffer("Pi_mod", (Pi & (self.block - 1)).to(torch.int32), persistent=False)
        self.register_buffer("Pi_inv", torch.argsort(Pi).to(torch.int32), persistent=False)
        self.register_buffer("G_scaled", G * self.scale, persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _Fastfood.apply(z, self)

    def apply_matrix(self, z: torch.Tensor) -> torch.Tensor:
        """P z for z of shape (d,) or (d, k): scale * (H G Pi H B [z; 0])[:D]."""
        u = _pad_dim0(z * _along_dim0(self.B, z), self.block)
        x = fwht(u).index_select(0, self.Pi_mod) * _along_dim0(self.G_scaled, z)
        return fwht(x)[: self.D]

    def apply_transpose(self, g: torch.Tensor) -> torch.Tensor:
        """P^T g for g of shape (D,) or (D, k): the same steps in reverse order."""
        x = (fwht(_pad_dim0(g, self.L)) * _along_dim0(self.G_scaled, g)).index_select(0, self.Pi_inv)
        blocks = x.view(self.L // self.block, self.block, *x.shape[1:]).sum(0)
        return fwht(blocks)[: self.d] * _along_dim0(self.B, g)


def _along_dim0(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The vector v shaped to scale ``like`` (shape (n,) or (n, k)) row by row."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def _pad_dim0(x: torch.Tensor, n: int) -> torch.Tensor:
    """x with zero rows appended up to n rows."""
    return nn.functional.pad(x, [0, 0] * (x.dim() - 1) + [0, n - x.shape[0]])


class _Fastfood(torch.autograd.Function):
    """Fastfood product with an explicit transpose for backward: nothing but z is kept for it."""

    @staticmethod
    def forward(ctx, z, proj):  # noqa: D102
        ctx.proj = proj
        with torch.no_grad():
            return proj.apply_matrix(z)

    @staticmethod
    def backward(ctx, g):  # noqa: D102
        with torch.no_grad():
            return ctx.proj.apply_transpose(g), None


PROJECTIONS = {cls.kind: cls for cls in (DenseProjection, SparseProjection, FastfoodProjection)}


def make_projection(kind: str, D: int, d: int, seed: int, dense_max_bytes: int | None = None) -> Projection:
    """Build a projection by name (``dense``, ``sparse`` or ``fastfood``)."""
    if kind not in PROJECTIONS:
        raise KeyError(f"unknown projection {kind!r}; valid: {', '.join(sorted(PROJECTIONS))}")
    if kind == "dense":
        return DenseProjection(D, d, seed, max_bytes=dense_max_bytes)
    return PROJECTIONS[kind](D, d, seed)
