"""Closed forms for Gaussian mixtures with low-rank covariances, and the paper's low-rank denoiser.

Data: p_0 = Σ_c π_c N(μ_c, F_c F_cᵀ), F_c an n x r_c factor (r_c << n). Under x_t = s x_0 + γ ε:
    p_t = Σ_c π_c N(s μ_c, Σ_c(t)),   Σ_c(t) = s² F_c F_cᵀ + γ² I.
With A_c = γ² I_r + s² F_cᵀF_c (r x r) and r = x − s μ_c (Woodbury):
    Σ_c(t)⁻¹ r = (r − s² F_c A_c⁻¹ F_cᵀ r) / γ²,   log det Σ_c(t) = (n − r_c) log γ² + log det A_c,
    ∇ log N_c(x) = −Σ_c(t)⁻¹ r,                     E[x_0 | x_t = x, c] = μ_c + s F_c A_c⁻¹ F_cᵀ r,
and with responsibilities w_c(x) = softmax_c(log π_c + log N_c(x)):
    ∇ log p_t(x) = Σ_c w_c ∇ log N_c(x),           E[x_0 | x_t = x] = Σ_c w_c E[x_0 | x_t, c]
(Tweedie: E[x_0 | x_t] = (x_t + γ² ∇ log p_t(x_t)) / s).

Special cases (constructors):
- MoLRG (Wang et al. 2024, arXiv 2409.02426): μ_c = 0, F_c = U_c orthonormal, π_c = 1/K. Then A = (s² + γ²) I,
      E[x_0 | x_t] = Σ_k w_k s/(s² + γ²) U_kU_kᵀ x_t,
      w_k = softmax_k(log π_k − (d_k/2) log(s² + γ²) + (d_k/2) log γ²
                      + s²/(2γ²(s² + γ²)) ||U_kᵀ x_t||²)
  (for equal d_k the log-det terms cancel: the paper's softmax of s²||U_kᵀx||² / (2γ²(s² + γ²))).
- MoLR-MoG (Yang et al. 2026, arXiv 2601.01475): x_0 = A_k z, z ~ Σ_l π_kl N(m_kl, V_kl V_klᵀ) in subspace k:
  components (k, l) with μ = A_k m_kl, F = A_k V_kl, π = π_k π_kl.

``LowRankMoLRGDenoiser`` is the paper's parameterisation of the denoiser x_θ with learnable orthonormal
U_k (Stiefel constraint kept by a QR retraction after every optimiser step; see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from subspacelab.diffusion.stiefel import orthonormality_error, project_to_tangent_, qr_retract_
from subspacelab.numerics.union_of_subspaces import haar_orthogonal

LOG_2PI = math.log(2 * math.pi)


def as_column(v, like: Tensor) -> Tensor:
    """s or γ as a tensor broadcastable against a batch x of shape (B, n): scalar -> 0-d, (B,) -> (B, 1)."""
    v = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return v if v.ndim == 0 else v.reshape(-1, 1)


def component_terms(x: Tensor, s, gamma, mean: Tensor, factor: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For one component N(μ, FFᵀ) at time (s, γ): log N(x; sμ, s²FFᵀ + γ²I) (B,), its score (B, n) and
    E[x_0 | x_t = x, c] (B, n). Differentiable in x, μ and F (usable by learnable models)."""
    n = x.shape[-1]
    s, g = as_column(s, x), as_column(gamma, x)
    g2 = g**2
    r = x - s * mean
    rank = factor.shape[-1]
    if rank == 0:
        sinv_r = r / g2
        logdet = n * torch.log(g2).reshape(-1)
        post = mean.expand_as(x)
    else:
        G = factor.T @ factor  # (r, r)
        eye = torch.eye(rank, dtype=x.dtype, device=x.device)
        A = g2.reshape(-1, 1, 1) * eye + (s**2).reshape(-1, 1, 1) * G  # (B or 1, r, r)
        L = torch.linalg.cholesky(A)
        FTr = r @ factor  # (B, r)
        sol = torch.cholesky_solve(FTr.unsqueeze(-1), L).squeeze(-1)  # A⁻¹ Fᵀ r
        sinv_r = (r - s**2 * (sol @ factor.T)) / g2
        logdet = (n - rank) * torch.log(g2).reshape(-1) + 2 * torch.log(
            torch.diagonal(L, dim1=-2, dim2=-1)
        ).sum(-1)
        post = mean + s * (sol @ factor.T)
    quad = (r * sinv_r).sum(-1)
    logp = -0.5 * (n * LOG_2PI + logdet + quad)
    return logp.expand(x.shape[0]), -sinv_r, post


def mixture_terms(
    x: Tensor, s, gamma, means: Sequence[Tensor], factors: Sequence[Tensor], log_weights: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """log π_c + log N_c(x) (B, C), component scores (B, C, n), component posterior means (B, C, n)."""
    logps, scores, posts = [], [], []
    for mu, F in zip(means, factors, strict=True):
        lp, sc, pm = component_terms(x, s, gamma, mu, F)
        logps.append(lp)
        scores.append(sc)
        posts.append(pm)
    logp = torch.stack(logps, dim=1) + log_weights.to(x.dtype)
    return logp, torch.stack(scores, dim=1), torch.stack(posts, dim=1)


@dataclass
class LowRankGaussianMixture:
    """p_0 = Σ_c π_c N(μ_c, F_cF_cᵀ) with closed-form log-density, score and posterior mean at any (s, γ).

    ``groups[c]``: the subspace a component belongs to (k for MoLRG and for MoLR-MoG's components (k, l)).
    """

    means: list[Tensor]
    factors: list[Tensor]
    log_weights: Tensor
    groups: list[int]

    def __post_init__(self):
        n = self.means[0].shape[-1]
        if not (len(self.means) == len(self.factors) == len(self.log_weights) == len(self.groups)):
            raise ValueError("means, factors, log_weights and groups need one entry per component")
        if any(F.shape[0] != n or mu.shape[-1] != n for mu, F in zip(self.means, self.factors, strict=True)):
            raise ValueError("every mean and factor must have the ambient dimension")
        lw = torch.as_tensor(self.log_weights, dtype=torch.float64)
        self.log_weights = lw - torch.logsumexp(lw, 0)

    @property
    def ambient(self) -> int:
        return int(self.means[0].shape[-1])

    # --- constructors -----------------------------------------------------------------------------
    @classmethod
    def molrg(
        cls,
        bases: Sequence[Tensor],
        weights: Sequence[float] | None = None,
        scales: Sequence[float] | None = None,
    ) -> LowRankGaussianMixture:
        """MoLRG: component k is N(0, c_k² U_kU_kᵀ) (c_k = 1 by default), weight π_k (uniform by default)."""
        K = len(bases)
        w = (
            torch.full((K,), 1.0 / K, dtype=torch.float64)
            if weights is None
            else torch.as_tensor(weights, dtype=torch.float64)
        )
        c = [1.0] * K if scales is None else [float(v) for v in scales]
        n = bases[0].shape[0]
        return cls(
            means=[torch.zeros(n, dtype=torch.float64) for _ in bases],
            factors=[ck * U.to(torch.float64) for ck, U in zip(c, bases, strict=True)],
            log_weights=torch.log(w),
            groups=list(range(K)),
        )

    @classmethod
    def molr_mog(
        cls,
        bases: Sequence[Tensor],
        latent_means: Sequence[Tensor],
        latent_factors: Sequence[Sequence[Tensor]],
        latent_weights: Sequence[Tensor],
        weights: Sequence[float] | None = None,
    ) -> LowRankGaussianMixture:
        """Mixture of low-rank mixtures of Gaussians: x = A_k z, z ~ Σ_l π_kl N(m_kl, V_klV_klᵀ) (d_k-dim latent).
        ``latent_means[k]``: (L_k, d_k); ``latent_factors[k][l]``: (d_k, r_kl); ``latent_weights[k]``: (L_k,)."""
        K = len(bases)
        w = np.full(K, 1.0 / K) if weights is None else np.asarray(weights, dtype=float)
        means, factors, logw, groups = [], [], [], []
        for k, A in enumerate(bases):
            A = A.to(torch.float64)
            lw = torch.as_tensor(latent_weights[k], dtype=torch.float64)
            lw = lw / lw.sum()
            for m_kl, V_kl, p in zip(latent_means[k], latent_factors[k], lw, strict=True):
                means.append(A @ torch.as_tensor(m_kl, dtype=torch.float64))
                factors.append(A @ torch.as_tensor(V_kl, dtype=torch.float64))
                logw.append(math.log(w[k]) + math.log(float(p)))
                groups.append(k)
        return cls(means=means, factors=factors, log_weights=torch.tensor(logw), groups=groups)

    # --- closed forms ---------------------------------------------------------------------------------
    def _terms(self, x: Tensor, s, gamma):
        return mixture_terms(
            x,
            s,
            gamma,
            [m.to(x.dtype) for m in self.means],
            [F.to(x.dtype) for F in self.factors],
            self.log_weights,
        )

    def log_prob(self, x: Tensor, s=1.0, gamma=0.0) -> Tensor:
        """log p_t(x) (B,); needs γ > 0 (at γ = 0 the density is singular off the subspaces)."""
        logp, _, _ = self._terms(x, s, gamma)
        return torch.logsumexp(logp, dim=1)

    def responsibilities(self, x: Tensor, s, gamma) -> Tensor:
        """w_c(x) = P(component c | x_t = x), (B, C)."""
        logp, _, _ = self._terms(x, s, gamma)
        return torch.softmax(logp, dim=1)

    def score(self, x: Tensor, s, gamma) -> Tensor:
        """∇_x log p_t(x), (B, n)."""
        logp, scores, _ = self._terms(x, s, gamma)
        return (torch.softmax(logp, dim=1).unsqueeze(-1) * scores).sum(1)

    def posterior_mean(self, x: Tensor, s, gamma) -> Tensor:
        """E[x_0 | x_t = x] (the optimal denoiser), (B, n)."""
        logp, _, posts = self._terms(x, s, gamma)
        return (torch.softmax(logp, dim=1).unsqueeze(-1) * posts).sum(1)

    def __call__(self, x: Tensor, s, gamma) -> Tensor:  # the optimal denoiser, in the harness's signature
        return self.posterior_mean(x, s, gamma)

    def sample(self, m: int, seed: int) -> tuple[Tensor, Tensor]:
        """m draws of x_0 (float64) and their component indices."""
        rng = np.random.default_rng([int(seed), 1])
        p = torch.exp(self.log_weights).numpy()
        comp = rng.choice(len(p), size=m, p=p / p.sum())
        X = torch.zeros(m, self.ambient, dtype=torch.float64)
        for c in range(len(p)):
            idx = np.flatnonzero(comp == c)
            if idx.size:
                z = torch.from_numpy(rng.standard_normal((idx.size, self.factors[c].shape[1])))
                X[idx] = self.means[c] + z @ self.factors[c].T
        return X, torch.from_numpy(comp)


# ----------------------------------------------------------------------------------------------------
# the paper's low-rank denoiser
# ----------------------------------------------------------------------------------------------------
class LowRankMoLRGDenoiser(nn.Module):
    """x_θ(x_t, t) = Σ_k w_k(x_t) · s/(s² + γ²) · U_kU_kᵀ x_t, the MoLRG posterior mean with learnable U_k,
    w_k = softmax_k(log π_k + (d_k/2) log(γ²/(s² + γ²)) + s²/(2γ²(s² + γ²)) ||U_kᵀ x_t||²)
    (π_k = 1/K fixed).
    For equal d_k this is exactly the paper's parameterisation (Wang et al. 2024, eq. (9)/(16) in v2).

    Stiefel constraint UᵀU = I: Adam takes Euclidean steps and ``retract`` maps each U_k back by QR
    (U ← Q·diag(sign(diag R))) after every step; ``project_gradients`` first projects the gradients onto the
    tangent space (G ← G − U sym(UᵀG)). Why not geoopt's Riemannian Adam: no extra dependency, the bases
    are tiny (n x d_k), and the QR retraction is what the reproduction notes prescribe; a retraction only
    changes the path, not the fixed points (the projected gradient vanishes at the same U).

    ``replicas`` > 1 trains that many independent copies at once (restarts: the loss is summed over replicas,
    and Adam and the retraction act elementwise / per copy, so each copy follows its own trajectory); the
    forward pass then returns (R, B, n). ``keep(r)`` reduces the module to copy r.
    """

    def __init__(
        self,
        ambient: int,
        dims: Sequence[int],
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        init: Sequence[Tensor] | None = None,
        replicas: int = 1,
    ):
        super().__init__()
        self.ambient, self.dims = int(ambient), [int(d) for d in dims]
        if replicas < 1:
            raise ValueError("replicas: must be >= 1")
        rng = np.random.default_rng([int(seed), 2])
        if init is not None:
            bases = [
                B.detach().to(torch.float64).reshape(-1, self.ambient, d).expand(replicas, -1, -1)
                for B, d in zip(init, self.dims, strict=True)
            ]
        else:  # Haar-random starts, independent per replica
            bases = [
                torch.stack([haar_orthogonal(self.ambient, d, rng) for _ in range(replicas)])
                for d in self.dims
            ]
        self.U = nn.ParameterList([nn.Parameter(B.clone().to(dtype)) for B in bases])  # each (R, n, d_k)
        self.register_buffer("log_pi", torch.full((len(self.dims),), -math.log(len(self.dims)), dtype=dtype))

    @property
    def replicas(self) -> int:
        return int(self.U[0].shape[0])

    def logits(self, x: Tensor, s, gamma) -> Tensor:
        """(R, B, K) gating logits."""
        s, g = as_column(s, x), as_column(gamma, x)
        s2, g2 = s**2, g**2
        coef = s2 / (2 * g2 * (s2 + g2))
        energy = torch.stack([((x @ U) ** 2).sum(-1) for U in self.U], dim=-1)  # ||U_kᵀx||², (R, B, K)
        dims = torch.tensor(self.dims, dtype=x.dtype, device=x.device)
        return self.log_pi + 0.5 * dims * torch.log(g2 / (s2 + g2)) + coef * energy

    def forward(self, x: Tensor, s, gamma) -> Tensor:
        x = x.to(self.U[0].dtype)
        sc, gc = as_column(s, x), as_column(gamma, x)
        w = torch.softmax(self.logits(x, s, gamma), dim=-1)  # (R, B, K)
        out = sum(w[..., k : k + 1] * ((x @ U) @ U.transpose(-1, -2)) for k, U in enumerate(self.U))
        out = (sc / (sc**2 + gc**2)) * out  # (R, B, n)
        return out[0] if self.replicas == 1 else out

    def project_gradients(self) -> None:
        for U in self.U:
            project_to_tangent_(U)

    def retract(self) -> None:
        for U in self.U:
            qr_retract_(U)

    @torch.no_grad()
    def keep(self, r: int) -> LowRankMoLRGDenoiser:
        """Keep only replica r (in place; returns self)."""
        for i, U in enumerate(self.U):
            self.U[i] = nn.Parameter(U[r : r + 1].clone())
        return self

    def bases(self, r: int = 0) -> list[Tensor]:
        return [U[r].detach().to(torch.float64).clone() for U in self.U]

    def orthonormality_error(self) -> float:
        """max over replicas and k of ||U_kᵀU_k − I||_max."""
        return max(orthonormality_error(U) for U in self.U)
