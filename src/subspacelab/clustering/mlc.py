"""Manifold Linearizing and Clustering (MLC; Ding, Tong, Chan, Dai, Ma, Haeffele, ICCV 2023): the maths in
plain torch, plus the small networks of the CPU-scale study.

Convention: a feature matrix is ``Z`` of shape (n, d), one sample per ROW (the paper writes Z ∈ R^{d×n}, one
per column; ZᵀZ here is the paper's Z Zᵀ). Every rate carries the factor ½ of MCR² and of the same group's
CPP code (LeslieTrue/CPP ``loss/loss_fn.py``); the paper's eq. (4) has no ½. Both R and R_c are scaled
alike, so the optimum is unchanged; only the loss scale (and hence the effective step size) halves.
``eps2`` is the paper's ε² (CPP's ``eps``).

- coding rate        R(Z; ε)     = ½ log det( I_d + d/(n ε²) ZᵀZ )
- clustered rate     R_c(Z, Γ; ε) = Σ_j  t_j/(2n) · log det( I_d + d/(t_j ε²) Zᵀ Diag(Γ_j) Z ),  t_j = Σ_i Γ_ij
  (Γ_j the j-th column of the n×n membership Γ). For doubly stochastic Γ every t_j = 1 and this is
  (1/2n) Σ_j log det(I + d/ε² Zᵀ Diag(Γ_j) Z), the paper's R_c with ½. For Γ_ij = 1/n_k when i, j share
  cluster k (hard clusters) it is MCR²'s Σ_k n_k/(2n) log det(I + d/(n_k ε²) Z_kᵀ Z_k).
- MLC loss (minimised) = −R(Z) + R_c(Z, Γ), with Γ = P_{Ω,η}(C Cᵀ) from the cluster head (C: n×d rows).
- P_{Ω,η}(S): the entropy-regularised projection onto the doubly stochastic matrices,
  argmax_{Γ≥0, Γ1=Γᵀ1=1} ⟨Γ, S⟩ − η Σ Γ_ij log Γ_ij = Diag(a) exp(S/η) Diag(b), by Sinkhorn's iterations in the
  log domain (fully differentiable by unrolling; smaller η gives a sparser Γ).
- TCR pre-training loss (NMCE's code form) = −½[R(Z¹) + R(Z²)] − λ · mean_i cos(z¹_i, z²_i).
- Two views (paper eq. 6): Z = normalise(mean_a Z^(a)), Γ = mean_a Γ^(a) (still doubly stochastic).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# ----------------------------------------------------------------------------------------------
# rates and losses
# ----------------------------------------------------------------------------------------------
def coding_rate(Z: Tensor, eps2: float) -> Tensor:
    """R(Z; ε) = ½ log det(I_d + d/(n ε²) ZᵀZ) for Z of shape (n, d)."""
    n, d = Z.shape
    eye = torch.eye(d, dtype=Z.dtype, device=Z.device)
    return 0.5 * torch.logdet(eye + (d / (n * eps2)) * (Z.T @ Z))


def clustered_rate(Z: Tensor, Gamma: Tensor, eps2: float) -> Tensor:
    """R_c(Z, Γ; ε) = Σ_j t_j/(2n) log det(I_d + d/(t_j ε²) Zᵀ Diag(Γ_j) Z), t_j = Σ_i Γ_ij (module doc).

    The n weighted covariances Zᵀ Diag(Γ_j) Z are formed at once as Γᵀ (n × d²) of the outer products z_i z_iᵀ."""
    n, d = Z.shape
    outer = (Z[:, :, None] * Z[:, None, :]).reshape(n, d * d)
    covs = (Gamma.T @ outer).reshape(n, d, d)  # covs[j] = Σ_i Γ_ij z_i z_iᵀ
    t = Gamma.sum(0).clamp_min(1e-12)
    eye = torch.eye(d, dtype=Z.dtype, device=Z.device)
    logdets = torch.logdet(eye + (d / eps2) * covs / t[:, None, None])
    return (t * logdets).sum() / (2 * n)


def mlc_loss(Z: Tensor, Gamma: Tensor, eps2: float) -> tuple[Tensor, Tensor, Tensor]:
    """(−R(Z) + R_c(Z, Γ), R, R_c): the MLC objective to minimise (paper eq. 4, ½ convention)."""
    R = coding_rate(Z, eps2)
    Rc = clustered_rate(Z, Gamma, eps2)
    return Rc - R, R, Rc


def tcr_loss(Z1: Tensor, Z2: Tensor, eps2: float, lam: float) -> Tensor:
    """TCR self-supervised loss (NMCE code form): −½[R(Z¹) + R(Z²)] − λ mean_i cos(z¹_i, z²_i)."""
    cos = F.cosine_similarity(Z1, Z2, dim=1).mean()
    return -0.5 * (coding_rate(Z1, eps2) + coding_rate(Z2, eps2)) - lam * cos


# ----------------------------------------------------------------------------------------------
# Sinkhorn projection onto doubly stochastic matrices
# ----------------------------------------------------------------------------------------------
def sinkhorn(S: Tensor, eta: float, n_iter: int = 10) -> Tensor:
    """P_{Ω,η}(S) = Diag(a) exp(S/η) Diag(b), rows and columns summing to 1, by ``n_iter`` full Sinkhorn
    iterations in the log domain: f ← −logsumexp_j(S_ij/η + g_j), g ← −logsumexp_i(S_ij/η + f_i), starting at
    g = 0; Γ = exp(S/η + f 1ᵀ + 1 gᵀ). The last update is on g, so columns sum to 1 exactly and rows to
    within the iteration's convergence. Differentiable by unrolling (gradients through every update)."""
    if eta <= 0 or n_iter < 1:
        raise ValueError("sinkhorn: need eta > 0 and n_iter >= 1")
    logK = S / eta
    g = torch.zeros(S.shape[1], dtype=S.dtype, device=S.device)
    for _ in range(n_iter):
        f = -torch.logsumexp(logK + g[None, :], dim=1)
        g = -torch.logsumexp(logK + f[:, None], dim=0)
    return torch.exp(logK + f[:, None] + g[None, :])


def sinkhorn_plain(S: Tensor, eta: float, n_iter: int = 10) -> Tensor:
    """The same projection with plain (non-log) scalings: K = exp(S/η), r = 1/(K c), c = 1/(Kᵀ r), Γ = Diag(r) K
    Diag(c). A reference for tests; overflows for small η."""
    K = torch.exp(S / eta)
    c = torch.ones(S.shape[1], dtype=S.dtype, device=S.device)
    for _ in range(n_iter):
        r = 1.0 / (K @ c)
        c = 1.0 / (K.T @ r)
    return r[:, None] * K * c[None, :]


def membership(C: Tensor, eta: float, n_iter: int = 10) -> Tensor:
    """Γ = P_{Ω,η}(C Cᵀ) from the cluster-head outputs C (n × d, rows on the sphere): the paper's CᵀC.
    (CPP uses |C Cᵀ|; not done here.)"""
    return sinkhorn(C @ C.T, eta, n_iter)


def row_entropy(Gamma: Tensor) -> float:
    """Mean over rows of −Σ_j Γ_ij log Γ_ij (rows of a doubly stochastic Γ are distributions): log n for the
    uniform Γ, 0 for a permutation."""
    P = Gamma.clamp_min(1e-30)
    return float(-(P * P.log()).sum(1).mean())


def combine_views(Zs: list[Tensor], Gammas: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Paper eq. (6): Z = normalise(mean_a Z^(a)) (rows back on the sphere), Γ = mean_a Γ^(a)."""
    Z = F.normalize(torch.stack(Zs).mean(0), dim=1)
    return Z, torch.stack(Gammas).mean(0)


# ----------------------------------------------------------------------------------------------
# geometry of the features
# ----------------------------------------------------------------------------------------------
def numerical_rank(Z: Tensor, energy: float = 0.95) -> int:
    """Smallest r with Σ_{i≤r} σ_i² ≥ energy · Σ_i σ_i² (σ: singular values of Z; 0 for Z = 0)."""
    s2 = torch.linalg.svdvals(Z.double()) ** 2
    total = float(s2.sum())
    if total <= 0:
        return 0
    cum = torch.cumsum(s2, 0) / total
    return int((cum < energy - 1e-12).sum()) + 1


def cosine_blocks(Z: Tensor, labels) -> tuple[float, float]:
    """(mean |cos| between samples of the same class (i ≠ j), mean |cos| between samples of different classes)."""
    Zn = F.normalize(Z.double(), dim=1)
    A = (Zn @ Zn.T).abs()
    y = torch.as_tensor(labels)
    same = y[:, None] == y[None, :]
    off = ~torch.eye(len(y), dtype=torch.bool)
    return float(A[same & off].mean()), float(A[~same].mean())


# ----------------------------------------------------------------------------------------------
# networks (CPU scale: 28 × 28 grey images)
# ----------------------------------------------------------------------------------------------
class SmallCNN(nn.Module):
    """Four conv3×3-BN-ReLU blocks (stride 1, 2, 2, 2), global average pool: (B, 1, 28, 28) -> (B, channels[-1])."""

    def __init__(self, channels=(32, 64, 128, 128), in_channels: int = 1):
        super().__init__()
        layers, c_in = [], in_channels
        for i, c in enumerate(channels):
            layers += [
                nn.Conv2d(c_in, c, 3, stride=1 if i == 0 else 2, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
            ]
            c_in = c
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_dim = c_in

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class MLCNet(nn.Module):
    """backbone -> pre-feature Linear+BN+ReLU -> feature head Linear(hidden, d) and cluster head Linear(hidden, d),
    both outputs L2-normalised (on S^{d−1}). ``forward`` returns (Z, C)."""

    def __init__(self, channels=(32, 64, 128, 128), hidden: int = 512, dim: int = 32, in_channels: int = 1):
        super().__init__()
        self.backbone = SmallCNN(channels, in_channels)
        self.pre_feature = nn.Sequential(
            nn.Linear(self.backbone.out_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)
        )
        self.feature_head = nn.Linear(hidden, dim)
        self.cluster_head = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.pre_feature(self.backbone(x))
        return F.normalize(self.feature_head(h), dim=1), F.normalize(self.cluster_head(h), dim=1)

    def features(self, x: Tensor) -> Tensor:
        return F.normalize(self.feature_head(self.pre_feature(self.backbone(x))), dim=1)


def copy_feature_to_cluster_head(net: MLCNet) -> None:
    """One-shot Γ initialisation (paper §3.2): cluster head := feature head, so Γ₀ = P_{Ω,η}(Z Zᵀ)."""
    net.cluster_head.load_state_dict(net.feature_head.state_dict())


def reset_cluster_head(net: MLCNet, seed: int) -> None:
    """A random cluster head (PyTorch's default Linear init from ``seed``): the ablation of the one-shot init."""
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        net.cluster_head.reset_parameters()


# ----------------------------------------------------------------------------------------------
# augmentation (batched; NMCE's Fashion-MNIST recipe) and one training step's loss
# ----------------------------------------------------------------------------------------------
def augment(x: Tensor, gen: torch.Generator) -> Tensor:
    """Random affine (no rotation, scale U[0.8, 1.1], translation up to 10% of the side per axis), a 3×3 Gaussian
    blur with σ ~ U[0.1, 2], brightness × U[0.5, 1.5] (colour images also: horizontal flip p = 0.5, greyscale
    p = 0.2), clamped to [0, 1]; one draw per image. x: (B, 1, H, W) in
    [0, 1]. Random numbers come from ``gen`` on the CPU."""
    B = x.shape[0]
    u = torch.rand(B, 5, generator=gen)
    scale = 0.8 + 0.3 * u[:, 0]
    tx, ty = (u[:, 1] - 0.5) * 0.4, (u[:, 2] - 0.5) * 0.4  # affine_grid units: the side is 2 long
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / scale
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    theta = theta.to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    sigma = (0.1 + 1.9 * u[:, 3]).to(x.device, x.dtype)
    k1 = torch.exp(
        -torch.tensor([1.0, 0.0, 1.0], device=x.device, dtype=x.dtype)[None, :] / (2 * sigma[:, None] ** 2)
    )
    k1 = k1 / k1.sum(1, keepdim=True)
    k2 = (k1[:, :, None] * k1[:, None, :])[:, None]  # (B, 1, 3, 3)
    C, H, W = x.shape[1:]
    x = F.conv2d(x.reshape(1, B * C, H, W), k2.repeat_interleave(C, 0), padding=1, groups=B * C).reshape(
        B, C, H, W
    )
    bright = (0.5 + u[:, 4]).to(x.device, x.dtype)
    x = x * bright[:, None, None, None]
    if C == 3:  # colour images (paper scale, a simplification of SimCLR's recipe): h-flip p=0.5, grey p=0.2
        v = torch.rand(B, 2, generator=gen).to(x.device)
        x = torch.where((v[:, 0] < 0.5)[:, None, None, None], x.flip(3), x)
        grey = x.mean(1, keepdim=True).expand_as(x)
        x = torch.where((v[:, 1] < 0.2)[:, None, None, None], grey, x)
    return x.clamp(0.0, 1.0)


def tcr_step(net: MLCNet, x: Tensor, gen: torch.Generator, eps2: float, lam: float) -> tuple[Tensor, dict]:
    """The TCR loss on two augmented views of the batch x."""
    z1, z2 = net.features(augment(x, gen)), net.features(augment(x, gen))
    loss = tcr_loss(z1, z2, eps2, lam)
    return loss, {
        "loss": float(loss.detach()),
        "cos": float(F.cosine_similarity(z1, z2, dim=1).mean().detach()),
    }


def mlc_step(
    net: MLCNet, x: Tensor, gen: torch.Generator, eps2: float, eta: float, n_iter: int, n_views: int = 2
) -> tuple[Tensor, dict]:
    """The MLC loss on ``n_views`` augmented views of the batch x (paper Alg. 1 lines 4-7)."""
    Zs, Gs = [], []
    for _ in range(n_views):
        z, c = net(augment(x, gen))
        Zs.append(z)
        Gs.append(membership(c, eta, n_iter))
    Z, Gamma = combine_views(Zs, Gs)
    loss, R, Rc = mlc_loss(Z, Gamma, eps2)
    return loss, {"loss": float(loss.detach()), "R": float(R.detach()), "Rc": float(Rc.detach())}


def max_rate(d: int, n: int, eps2: float) -> float:
    """R of n unit vectors spread evenly over d dimensions (ZᵀZ = (n/d) I): ½ d log(1 + 1/ε²) (a scale guide)."""
    return 0.5 * d * math.log(1.0 + 1.0 / eps2)
