"""Metrics for generative models whose true distribution is a known union of subspaces.

Generated samples g_j against the true bases U*_k and the training set {x_i}:
- on the union: relative distance min_k ||(I − U*_kU*_kᵀ) g|| / ||g|| <= ``on_union_tol``;
- memorised: the nearest training sample is much nearer than the second nearest,
  ||g − x_(1)|| < ``ratio`` · ||g − x_(2)|| (the 1/3 test of Yoon et al. 2023 / Carlini et al. 2023; with a
  single training sample: ||g − x_(1)|| < ratio · ||g||);
- generalised: on the union and not memorised (the fraction is the "generalisation score");
- coverage error: samples assigned to their nearest true subspace, the d_k leading directions of each
  group (uncentred PCA) compared with U*_k (``subspace_error``); a subspace with fewer than d_k samples
  counts as error 1. A model that only spans part of a subspace (or collapses onto training points
  spanning fewer than d_k directions) fails here even when its samples lie on the union.

Denoiser Jacobians: J = ∂D(x_t)/∂x_t at points x_t = s x_0 + γ ε; numerical rank = the smallest r with
sqrt(Σ_{i<=r} σ_i²) >= ``energy`` · ||J||_F (the rule of the official edm/jacobian.py, energy 0.99).

Sample quality without a known truth: ``sliced_wasserstein`` between two sample sets, ``frechet_distance``
between Gaussian fits of two feature sets (the FID formula, in any feature space).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from subspacelab.numerics.union_of_subspaces import (
    DTYPE,
    distance_to_union,
    nearest_subspace,
    projector_distance,
    top_subspace,
)


def memorised(samples: Tensor, train: Tensor, ratio: float = 1 / 3) -> Tensor:
    """Boolean per sample: the nearest-neighbour ratio test (see module doc)."""
    D = torch.cdist(samples.to(DTYPE), train.to(DTYPE))
    if train.shape[0] >= 2:
        two = D.topk(2, dim=1, largest=False).values
        return two[:, 0] < ratio * two[:, 1]
    return D[:, 0] < ratio * samples.to(DTYPE).norm(dim=1)


def coverage_error(samples: Tensor, bases: Sequence[Tensor]) -> float:
    """Mean over k of the projector distance between the top-d_k PCA of the samples nearest to U*_k and U*_k."""
    assign = nearest_subspace(samples, bases)
    errs = []
    for k, U in enumerate(bases):
        Xk = samples[assign == k]
        errs.append(1.0 if Xk.shape[0] < U.shape[1] else projector_distance(top_subspace(Xk, U.shape[1]), U))
    return float(np.mean(errs))


def generation_report(
    samples: Tensor, train: Tensor, bases: Sequence[Tensor], ratio: float = 1 / 3, on_union_tol: float = 0.1
) -> dict:
    """Scalar summary of generated samples (see module doc)."""
    samples = samples.to(DTYPE)
    finite = torch.isfinite(samples).all(dim=1)
    if not bool(finite.all()):
        samples = torch.where(finite[:, None], samples, torch.zeros_like(samples))
    dist_union = distance_to_union(samples, bases, relative=True)
    nn = torch.cdist(samples, train.to(DTYPE)).min(dim=1).values / samples.norm(dim=1).clamp_min(1e-300)
    mem = memorised(samples, train, ratio)
    on = (dist_union <= on_union_tol) & finite
    counts = torch.bincount(nearest_subspace(samples, bases), minlength=len(bases))
    return {
        "n_samples": int(samples.shape[0]),
        "frac_finite": float(finite.double().mean()),
        "dist_union_median": float(dist_union.median()),
        "dist_train_median": float(nn.median()),
        "frac_on_union": float(on.double().mean()),
        "frac_memorised": float(mem.double().mean()),
        "frac_generalised": float((on & ~mem).double().mean()),
        "coverage_error": coverage_error(samples, bases),
        "min_component_frac": float(counts.min()) / max(1, samples.shape[0]),
    }


def denoiser_jacobian(denoiser, x: Tensor, s: float, gamma: float) -> Tensor:
    """∂D(x)/∂x at one point x (n,), as an (n, n) float64 matrix."""
    x = x.detach().to(DTYPE)
    st = torch.tensor([float(s)], dtype=DTYPE)
    gt = torch.tensor([float(gamma)], dtype=DTYPE)

    def f(v: Tensor) -> Tensor:
        return denoiser(v.unsqueeze(0), st, gt).squeeze(0).to(DTYPE)

    return torch.autograd.functional.jacobian(f, x).to(DTYPE)


def numerical_rank(J: Tensor, energy: float = 0.99) -> int:
    """Smallest r with sqrt(Σ_{i<=r} σ_i²) >= energy · ||J||_F (0 for J = 0)."""
    sv = torch.linalg.svdvals(J.to(DTYPE))
    acc = torch.cumsum(sv**2, 0).sqrt()
    if float(acc[-1]) == 0.0:
        return 0
    return int((acc >= energy * acc[-1]).nonzero()[0, 0]) + 1


def sliced_wasserstein(
    X: Tensor, Y: Tensor, projections: int = 256, seed: int = 0, quantiles: int = 200
) -> float:
    """Sliced 2-Wasserstein distance between the empirical distributions of the rows of X and Y:
    sqrt(E_θ W2²(θᵀX, θᵀY)) over ``projections`` directions θ uniform on the sphere, each 1-D W2² from
    ``quantiles`` matched quantiles (so X and Y may have different sizes)."""
    X, Y = X.to(DTYPE), Y.to(DTYPE)
    if X.shape[1] != Y.shape[1] or min(X.shape[0], Y.shape[0]) < 1:
        raise ValueError("sliced_wasserstein: need non-empty samples of the same dimension")
    gen = torch.Generator().manual_seed(int(seed))
    theta = torch.randn(X.shape[1], projections, generator=gen, dtype=DTYPE)
    theta = theta / theta.norm(dim=0, keepdim=True)
    q = (torch.arange(quantiles, dtype=DTYPE) + 0.5) / quantiles
    qx = torch.quantile(X @ theta, q, dim=0)
    qy = torch.quantile(Y @ theta, q, dim=0)
    return float(((qx - qy) ** 2).mean().sqrt())


def frechet_distance(A: Tensor, B: Tensor) -> float:
    """||μ_A − μ_B||² + tr(Σ_A + Σ_B − 2 (Σ_A Σ_B)^{1/2}) between Gaussian fits of the rows of A and B.
    tr (Σ_A Σ_B)^{1/2} = Σ sqrt(λ_i(Σ_A Σ_B)): the eigenvalues of a product of two PSD matrices are real and
    >= 0 (round-off clipped), which also holds when the covariances are singular (fewer samples than features)."""
    a, b = A.double().numpy(), B.double().numpy()
    ma, mb = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    lam = np.clip(np.linalg.eigvals(ca @ cb).real, 0.0, None)
    return float(((ma - mb) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.sqrt(lam).sum())
