"""Fast Walsh-Hadamard transform along dim 0: O(n log n) time, O(n) memory.

H_n for n = 2^k is the Kronecker product of small Hadamard matrices, H_{2^a} x H_{2^b} x ...,
so the transform is a few batched products with a <= 128 x 128 +-1 matrix, one per factor: far
fewer passes over memory than log2(n) butterfly stages. H is symmetric, so the backward pass is the
same transform of the incoming gradient; nothing is saved for it.
"""

from __future__ import annotations

import functools

import torch

_MAX_FACTOR_BITS = 7


@functools.lru_cache(maxsize=32)
def _hadamard_cpu(bits: int, dtype: torch.dtype) -> torch.Tensor:
    h = torch.ones(1, 1, dtype=dtype)
    for _ in range(bits):
        h = torch.cat((torch.cat((h, h), 1), torch.cat((h, -h), 1)), 0)
    return h


def hadamard_matrix(n: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The n x n Sylvester Hadamard matrix (entries +-1), n a power of two."""
    bits = _log2(n)
    return _hadamard_cpu(bits, dtype).to(device)


def _log2(n: int) -> int:
    if n < 1 or n & (n - 1):
        raise ValueError(f"fwht needs a power-of-two length along dim 0, got {n}")
    return n.bit_length() - 1


def _factor_bits(bits: int) -> list[int]:
    """Split k bits into as few, as even factors of at most _MAX_FACTOR_BITS as possible."""
    if bits == 0:
        return []
    parts = -(-bits // _MAX_FACTOR_BITS)
    return [bits // parts + (i < bits % parts) for i in range(parts)]


def _fwht_dim0(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    rest = x.shape[1:]
    y = x.reshape(n, -1)
    m = y.shape[1]
    # View y as (outer, block, inner * m) and transform the middle axis, one Kronecker factor at a
    # time: a plain GEMM for the leading factor (outer = 1) and for the trailing one (inner * m = 1,
    # H is symmetric), a batched GEMM in between. No transposed copies.
    outer, inner = n, 1
    for b in _factor_bits(_log2(n)):
        block = 1 << b
        outer //= block
        H = hadamard_matrix(block, y.dtype, y.device)
        if outer == 1:
            y = H @ y.reshape(block, inner * m)
        elif inner * m == 1:
            y = y.reshape(outer, block) @ H
        else:
            y = torch.matmul(H, y.reshape(outer, block, inner * m))
        inner *= block
    return y.reshape(n, *rest)


class _FWHT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return _fwht_dim0(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return _fwht_dim0(grad)


def fwht(x: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Unnormalised Walsh-Hadamard transform H x along dim 0 (H has entries +-1, Sylvester order).

    With ``normalize=True`` the result is divided by sqrt(n), making the transform orthogonal
    and its own inverse.
    """
    y = _FWHT.apply(x)
    if normalize:
        y = y / x.shape[0] ** 0.5
    return y
