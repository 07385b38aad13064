"""Fast Walsh-Hadamard transform along dim 0: O(n log n) time, O(n) memory.

H_n for n = 2^k is the Kronecker product of small Hadamard matrices H_{2^b1} x H_{2^b2} x ... (sum of
the b's = k). Each factor is one GEMM with a small +-1 matrix that transforms the lowest b bits of the
index and, by writing its result transposed, rotates them to the top: after all factors every bit has
been transformed once and the bit order is back where it started. So every factor is a single large
GEMM (no batches of tiny products, no transposed copies), and a factor of 2^b costs 2^b multiply-adds
per element: small factors (b <= 4) do 4-5 passes over memory at ~70 multiply-adds per element, about
half the time of three 64-wide factors (192 per element) and of 18 add/sub butterfly passes on 2 CPU
cores for n = 2^18 (measured with bench/timing.py's interleaved timer). H is symmetric, so the backward
pass is the same transform of the incoming gradient; nothing is saved for it.
"""

from __future__ import annotations

import functools

import torch

_MAX_FACTOR_BITS = 4


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
    y = x.reshape(n, -1).T.contiguous()  # (m, n): one row per transformed vector; a view when m = 1
    m = y.shape[0]
    for b in _factor_bits(_log2(n)):
        block = 1 << b
        H = hadamard_matrix(block, y.dtype, y.device)
        # (m, n / block, block) -> H @ (m, block, n / block): the low b bits, transformed, become the
        # high ones. H is symmetric, so H @ Y^T needs no copy of Y.
        if m == 1:  # one vector: a plain GEMM (the batched kernel is slower for a batch of one)
            y = (H @ y.view(n // block, block).T).view(1, n)
        else:
            y = torch.matmul(H, y.view(m, n // block, block).transpose(1, 2)).view(m, n)
    return y.T.reshape(n, *rest)


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
