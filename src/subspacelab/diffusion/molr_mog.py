"""The MoLR-MoG score network of Yang, Li, Jiang, Chen, Li (arXiv 2601.01475): a mixture of experts whose
expert k is the closed-form score of a latent mixture of Gaussians in subspace k.

Model: x_0 = A_k z with probability π_k, A_k ∈ R^{D x d} orthonormal, z ~ Σ_l π_{l|k} N(m_kl, V_kl V_klᵀ).
Every (k, l) is one Gaussian component of R^D with mean A_k m_kl and factor A_k V_kl, so the denoiser
E[x_0 | x_t] and the score are those of ``molrg.LowRankGaussianMixture``; ``latent_terms`` computes them for
all components at once in the d-dimensional latent coordinates A_kᵀx (one batched Cholesky of d x d
matrices), which is exact for orthonormal A_k and costs O(B·D·K·d) instead of O(B·K·L·D·r). The softmax over components is the gate of the mixture of experts
(w_kl = softmax(log π_k π_{l|k} + log N(x; s A_k m_kl, Σ_kl(t)))); each expert k (its L modes together) is
nonlinear in x, unlike MoLRG's linear experts.

``MoLRMoGDenoiser`` holds {A_k, m_kl, V_kl, log-weights} as parameters and is trained by the denoising loss
(equivalently denoising score matching; ``losses``). A_k stays on the Stiefel manifold (``stiefel``), or is
fixed (``learn_bases=False``: e.g. per-digit PCA bases on MNIST, or A = I for a plain latent MoG). With
``modes=1`` it is the paper's "MoE-latent Gaussian" baseline (MoLRG with a learned latent mean and
covariance per subspace).

``warm_start``: K-subspaces for the bases, k-means in each subspace's latent coordinates for the means,
the pooled within-cluster standard deviation for isotropic factors, uniform weights. Training by the
denoising loss then fits every parameter; the paper's convergence result is local (strong convexity near
the truth), which is why a clustering start is used rather than a random one.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from subspacelab.diffusion.ksubspaces import ksubspaces
from subspacelab.diffusion.molrg import LOG_2PI, LowRankGaussianMixture, as_column
from subspacelab.diffusion.stiefel import orthonormality_error, project_to_tangent_, qr_retract_
from subspacelab.numerics.union_of_subspaces import haar_orthogonal


def latent_terms(
    x: Tensor, s, gamma, A: Tensor, m: Tensor, V: Tensor, log_weights: Tensor
) -> tuple[Tensor, Tensor]:
    """The MoLR-MoG's component terms at time (s, γ), computed in each subspace's latent coordinates.

    A (K, D, d) orthonormal bases, m (K, L, d) latent means, V (K, L, d, r) latent factors, log_weights (K, L).
    With z = A_kᵀx and ||P⊥_k x||² = ||x||² − ||z||², component (k, l) = N(s A_k m_kl, A_k M A_kᵀ + γ² P⊥_k) with
    M = s² V Vᵀ + γ² I (d x d), so
        log N = −½ (D log 2π + (D − d) log γ² + log det M + ||P⊥_k x||²/γ² + uᵀ M u'),  u = M⁻¹ (z − s m),
        E[x_0 | x_t, (k, l)] = A_k (m + s V Vᵀ u).
    Returns log π_kl + log N_kl (B, K, L) and the latent posterior means m + s V Vᵀ u (B, K, L, d).
    Exact only for orthonormal A_k (kept so by the retraction); ``molrg.LowRankGaussianMixture`` is the
    reference it is tested against."""
    D, d = x.shape[-1], A.shape[-1]
    s, g = as_column(s, x), as_column(gamma, x)  # 0-d or (B, 1)
    s_, g2_ = s.reshape(-1, 1, 1, 1), (g**2).reshape(-1, 1, 1, 1)  # (B or 1, 1, 1, 1)
    z = torch.einsum("bD,kDd->bkd", x, A)  # (B, K, d)
    perp = ((x * x).sum(-1, keepdim=True) - (z * z).sum(-1)).clamp_min(0.0)  # (B, K)
    S = V @ V.transpose(-1, -2)  # (K, L, d, d)
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    M = (s_**2).unsqueeze(-1) * S + g2_.unsqueeze(-1) * eye  # (B or 1, K, L, d, d)
    chol = torch.linalg.cholesky(M)
    r = z.unsqueeze(2) - s_ * m  # (B, K, L, d)
    u = torch.cholesky_solve(r.unsqueeze(-1), chol).squeeze(-1)
    g2 = g2_.reshape(-1, 1, 1)
    logdet = (D - d) * torch.log(g2) + 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    quad = perp.unsqueeze(-1) / g2 + (r * u).sum(-1)
    logp = -0.5 * (D * LOG_2PI + logdet + quad) + log_weights.to(x.dtype)
    post = m + s_ * (S @ u.unsqueeze(-1)).squeeze(-1)
    return logp, post


class MoLRMoGDenoiser(nn.Module):
    """x̂_0(x_t) = Σ_{k,l} w_kl(x_t) E[x_0 | x_t, (k, l)] with learnable MoLR-MoG parameters (module doc).

    Parameters: ``A`` (K, D, d) (a buffer when ``learn_bases`` is False), ``latent_means`` (K, L, d),
    ``latent_factors`` (K, L, d, r), ``logits`` (K, L) (log π_k π_{l|k} up to a constant).
    """

    def __init__(
        self,
        ambient: int,
        K: int,
        dim: int,
        modes: int,
        rank: int | None = None,
        seed: int = 0,
        learn_bases: bool = True,
        bases: Tensor | None = None,
        dtype: torch.dtype = torch.float64,
    ):
        super().__init__()
        rank = dim if rank is None else int(rank)
        if min(ambient, K, dim, modes, rank) < 1 or dim > ambient or rank > dim:
            raise ValueError(
                f"MoLRMoGDenoiser: need 1 <= rank <= dim <= ambient and K, modes >= 1; got "
                f"ambient={ambient}, K={K}, dim={dim}, modes={modes}, rank={rank}"
            )
        self.ambient, self.K, self.dim, self.modes, self.rank = (
            int(ambient),
            int(K),
            int(dim),
            int(modes),
            rank,
        )
        rng = np.random.default_rng([int(seed), 5])
        if bases is None:
            bases = torch.stack([haar_orthogonal(ambient, dim, rng) for _ in range(K)])
        bases = torch.as_tensor(bases, dtype=dtype).reshape(K, ambient, dim).clone()
        if learn_bases:
            self.A = nn.Parameter(bases)
        else:
            self.register_buffer("A", bases)
        self.latent_means = nn.Parameter(torch.from_numpy(rng.standard_normal((K, modes, dim))).to(dtype))
        eye = torch.eye(dim, rank, dtype=dtype)
        self.latent_factors = nn.Parameter(eye.expand(K, modes, dim, rank).clone())
        self.logits = nn.Parameter(torch.zeros(K, modes, dtype=dtype))

    @property
    def learns_bases(self) -> bool:
        return isinstance(self.A, nn.Parameter)

    def components(self) -> tuple[Tensor, Tensor, Tensor]:
        """Means (C, D), factors (C, D, r) and log-weights (C,) of the C = K·L components in R^D
        (index c = k·L + l)."""
        means = torch.einsum("kDd,kld->klD", self.A, self.latent_means).reshape(-1, self.ambient)
        factors = torch.einsum("kDd,kldr->klDr", self.A, self.latent_factors).reshape(
            -1, self.ambient, self.rank
        )
        return means, factors, self.log_weights().reshape(-1)

    def log_weights(self) -> Tensor:
        """log π_k π_{l|k}, (K, L), normalised over all K·L components."""
        return torch.log_softmax(self.logits.reshape(-1), 0).reshape(self.K, self.modes)

    def _terms(self, x: Tensor, s, gamma) -> tuple[Tensor, Tensor]:
        return latent_terms(
            x.to(self.latent_means.dtype),
            s,
            gamma,
            self.A,
            self.latent_means,
            self.latent_factors,
            self.log_weights(),
        )

    def forward(self, x: Tensor, s, gamma) -> Tensor:
        logp, post = self._terms(x, s, gamma)
        B = logp.shape[0]
        w = torch.softmax(logp.reshape(B, -1), dim=1).reshape(logp.shape)  # the gate, over all (k, l)
        latent = (w.unsqueeze(-1) * post).sum(2)  # (B, K, d): Σ_l w_kl E[z_0 | x_t, (k, l)]
        return torch.einsum("bkd,kDd->bD", latent, self.A)

    def responsibilities(self, x: Tensor, s, gamma) -> Tensor:
        """P((k, l) | x_t = x), (B, K·L), index k·L + l."""
        logp, _ = self._terms(x, s, gamma)
        return torch.softmax(logp.reshape(logp.shape[0], -1), dim=1)

    def project_gradients(self) -> None:
        if self.learns_bases:
            project_to_tangent_(self.A)

    def retract(self) -> None:
        if self.learns_bases:
            qr_retract_(self.A)

    def orthonormality_error(self) -> float:
        return orthonormality_error(self.A.detach())

    def n_parameters(self, include_bases: bool = True) -> int:
        """Trained parameters (fixed bases are a buffer, not counted); ``include_bases=False``: the experts'
        latent parameters only."""
        return sum(p.numel() for name, p in self.named_parameters() if include_bases or name != "A")

    @torch.no_grad()
    def as_mixture(self) -> LowRankGaussianMixture:
        """The fitted distribution as a closed-form mixture (its posterior mean is this module's output)."""
        means, factors, logw = self.components()
        C = means.shape[0]
        return LowRankGaussianMixture(
            means=[means[c].double() for c in range(C)],
            factors=[factors[c].double() for c in range(C)],
            log_weights=logw.double(),
            groups=[c // self.modes for c in range(C)],
        )

    @torch.no_grad()
    def set_parameters(
        self,
        bases: Tensor | None = None,
        latent_means: Tensor | None = None,
        latent_factors: Tensor | None = None,
        logits: Tensor | None = None,
    ) -> MoLRMoGDenoiser:
        for name, value in (
            ("A", bases),
            ("latent_means", latent_means),
            ("latent_factors", latent_factors),
            ("logits", logits),
        ):
            if value is not None:
                target = getattr(self, name)
                target.copy_(torch.as_tensor(value, dtype=target.dtype).reshape(target.shape))
        return self


def kmeans(Z: Tensor, k: int, seed: int, restarts: int = 4) -> tuple[Tensor, Tensor]:
    """scikit-learn's k-means (k-means++ starts) on the rows of Z: centres (k, d) and labels (N,)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=restarts, random_state=int(seed)).fit(Z.double().numpy())
    return torch.from_numpy(km.cluster_centers_), torch.from_numpy(km.labels_.astype(np.int64))


def subset(X: Tensor, max_points: int | None, seed: int) -> Tensor:
    """At most ``max_points`` rows of X (a seeded random subset), as float64."""
    X = X.to(torch.float64)
    if max_points is None or X.shape[0] <= max_points:
        return X
    return X[torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(int(seed)))[:max_points]]


def subspace_start(
    X: Tensor, K: int, d: int, seed: int, restarts: int = 64, max_points: int | None = 1000
) -> Tensor:
    """K-subspaces (random-point starts, ``restarts`` of them) on at most ``max_points`` samples: (K, D, d)
    bases for ``warm_start``. K-subspaces' cost grows with N and a start needs no more points."""
    ks = ksubspaces(subset(X, max_points, seed), [d] * K, restarts=restarts, seed=seed, init_mode="points")
    return torch.stack(ks.bases)


@torch.no_grad()
def warm_start(
    model: MoLRMoGDenoiser, X: Tensor, seed: int, bases: Tensor | None = None, max_points: int | None = 1000
) -> float:
    """Clustering start for ``model`` from training samples X (N, D) (module doc), on at most ``max_points`` of
    them. The bases: ``bases`` if given, else the model's own when they are fixed, else ``subspace_start``.
    Samples go to the subspace that captures most of their energy. Returns the fraction of the samples' energy
    the bases capture (1 on noise-free data when they span the true union; less at a local optimum)."""
    X = subset(X, max_points, seed)
    if bases is None:
        bases = (
            model.A.detach().double()
            if not model.learns_bases
            else subspace_start(X, model.K, model.dim, seed)
        )
    bases = bases.to(torch.float64)
    labels = torch.einsum("nD,kDd->nkd", X, bases).pow(2).sum(-1).argmax(1)
    K, L, d = model.K, model.modes, model.dim
    means = torch.zeros(K, L, d, dtype=torch.float64)
    sq, count, captured = 0.0, 0, 0.0
    for k in range(K):
        Z = X[labels == k] @ bases[k]
        captured += float((Z**2).sum())
        if Z.shape[0] == 0:  # an empty subspace keeps random means
            means[k] = model.latent_means[k].double()
            continue
        if Z.shape[0] < L:  # fewer points than modes: repeat them
            Z = Z[torch.arange(L) % Z.shape[0]]
        centres, lab = kmeans(Z, L, seed=seed + k)
        means[k] = centres
        sq += float(((Z - centres[lab]) ** 2).sum())
        count += Z.numel()
    std = math.sqrt(sq / count) if count and sq > 0 else 1.0
    factors = std * torch.eye(d, model.rank, dtype=torch.float64).expand(K, L, d, model.rank)
    model.set_parameters(
        bases=bases if model.learns_bases else None,
        latent_means=means,
        latent_factors=factors,
        logits=torch.zeros(K, L),
    )
    total = float((X**2).sum())
    return captured / total if total > 0 else 1.0


def molr_mog_truth(bases, L: int, separation: float, latent_std: float, seed: int) -> LowRankGaussianMixture:
    """A MoLR-MoG with well-separated latent modes: in each subspace k, L means m_kl = ``separation`` · u_kl
    (u_kl uniform on the unit sphere of R^{d_k}), covariances ``latent_std``² I, equal weights."""
    rng = np.random.default_rng([int(seed), 6])
    means, factors, weights = [], [], []
    for A in bases:
        d = A.shape[1]
        u = rng.standard_normal((L, d))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        means.append(torch.from_numpy(separation * u))
        factors.append([latent_std * torch.eye(d, dtype=torch.float64) for _ in range(L)])
        weights.append(torch.full((L,), 1.0 / L, dtype=torch.float64))
    return LowRankGaussianMixture.molr_mog(list(bases), means, factors, weights)
