"""Grassmann Class Representation (GCR; Wang, Li & Zhang, ICCV 2023): classifier heads and a small ResNet.

Heads map a feature x in R^D to C logits, trained with plain cross-entropy:

* ``SoftmaxHead``: logit_c = w_c^T x + b_c.
* ``CosineSoftmaxHead``: logit_c = gamma * <w_c / ||w_c||, x / ||x||>, in [-gamma, gamma].
* ``GCRHead``: class c is a k-dimensional subspace, a D x k matrix S_c with orthonormal columns, and
  logit_c = gamma * ||S_c^T x / ||x|| ||, the length of the projection of the unit feature onto the
  subspace, in [0, gamma]. As in the official code (``innerlee/gcr``), only x is normalised, gamma is a
  fixed constant (25 there), and S is initialised by QR of a Gaussian. S must be trained with
  ``subspace.grassmann.GrassmannSGD`` (``gcr_param_groups`` builds the groups); with k = 1 the logit is
  gamma * |cos(w_c, x)|, the cosine-softmax logit up to its sign.

``intra_class_variability`` is the feature measure the paper uses (after Kornblith et al., 2021).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from subspacelab.configurable import configurable, one_of, require
from subspacelab.subspace.grassmann import manifold_param_groups, orthonormalise


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


class SoftmaxHead(nn.Linear):
    """Plain linear classifier: logit_c = w_c^T x + b_c."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__(in_features, num_classes)


class CosineSoftmaxHead(nn.Module):
    """Normalised softmax head: logit_c = gamma * cos(w_c, x)."""

    def __init__(self, in_features: int, num_classes: int, gamma: float = 25.0, seed: int = 0):
        super().__init__()
        self.gamma = float(gamma)
        self.weight = nn.Parameter(torch.randn(num_classes, in_features, generator=_generator(seed)))

    def forward(self, x: Tensor) -> Tensor:
        return self.gamma * F.normalize(x, dim=-1) @ F.normalize(self.weight, dim=-1).T


class GCRHead(nn.Module):
    """Grassmann class representation: logit_c = gamma * ||S_c^T x_hat||, x_hat = x / ||x||.

    ``subspaces`` has shape (num_classes, in_features, k); each S_c has orthonormal columns.
    """

    def __init__(self, in_features: int, num_classes: int, k: int = 8, gamma: float = 25.0, seed: int = 0):
        super().__init__()
        if not 0 < k <= in_features:
            raise ValueError(f"subspace dimension k must satisfy 0 < k <= in_features, got k={k}")
        self.gamma, self.k = float(gamma), int(k)
        gaussian = torch.randn(num_classes, in_features, k, generator=_generator(seed))
        self.subspaces = nn.Parameter(orthonormalise(gaussian))

    def grassmann_parameters(self) -> list[nn.Parameter]:
        """What ``GrassmannSGD`` moves along geodesics (``manifold_param_groups``)."""
        return [self.subspaces]

    def forward(self, x: Tensor) -> Tensor:
        coords = torch.einsum("bd,cdk->bck", F.normalize(x, dim=-1), self.subspaces)
        return self.gamma * torch.linalg.vector_norm(coords, dim=-1)


def gcr_param_groups(model: nn.Module, **grassmann_options: Any) -> list[dict[str, Any]]:
    """Two parameter groups for ``GrassmannSGD``: the subspaces of every ``GCRHead`` (``manifold=
    "grassmann"``, with ``grassmann_options`` such as a separate lr), and everything else."""
    return manifold_param_groups(model, **grassmann_options)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet (He et al. 2016, sec. 4.2): depth = 6n + 2, stages of width w, 2w, 4w.

    Works for 32x32 and 28x28 inputs. ``features(x)`` is the globally average-pooled 4w-dimensional
    vector (for linear-transfer evaluation); ``forward(x) = head(features(x))``, and ``head`` is
    swappable (default: a linear layer).
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        width: int = 16,
        depth: int = 20,
        head: nn.Module | None = None,
    ):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2, got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        c_in = width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(BasicBlock(c_in, c_out, 2 if stage > 0 and i == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = 4 * width
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.head = head if head is not None else SoftmaxHead(self.feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.blocks(self.stem(x)).mean(dim=(-2, -1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def build_gcr_classifier(
    head: Literal["softmax", "cosine", "gcr"] = "gcr",
    k: int = 1,
    gamma: float = 25.0,
    in_channels: int = 3,
    num_classes: int = 10,
    width: int = 16,
    depth: int = 20,
    seed: int = 0,
) -> ResNet:
    """A ``ResNet`` with the named head, initialised from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ResNet(in_channels, num_classes, width, depth)
        dim = model.feature_dim
        if head == "softmax":
            model.head = SoftmaxHead(dim, num_classes)
        elif head == "cosine":
            model.head = CosineSoftmaxHead(dim, num_classes, gamma, seed=seed)
        elif head == "gcr":
            model.head = GCRHead(dim, num_classes, k, gamma, seed=seed)
        else:
            raise ValueError(f"unknown head {head!r}; use 'softmax', 'cosine' or 'gcr'")
    return model


@dataclass
class GCRResNetConfig:
    head: str = "gcr"
    k: int = 8
    gamma: float = 25.0
    width: int = 16
    depth: int = 20

    def __post_init__(self):
        one_of(self.head, {"gcr", "cosine", "softmax"}, "model.head")
        require(self.k > 0, "model.k", f"must be > 0, got {self.k}")
        require(self.gamma > 0, "model.gamma", f"must be > 0, got {self.gamma}")
        require(self.width > 0, "model.width", f"must be > 0, got {self.width}")
        require(
            self.depth >= 8 and (self.depth - 2) % 6 == 0,
            "model.depth",
            f"must be 6n + 2 >= 8, got {self.depth}",
        )
        require(
            self.k <= 4 * self.width,
            "model.k",
            f"must be <= the feature size 4 * model.width = {4 * self.width}",
        )


@configurable("gcr_resnet", GCRResNetConfig, task="classification")
def gcr_resnet(
    in_shape=(3, 32, 32),
    num_classes: int = 10,
    head: str = "gcr",
    k: int = 8,
    gamma: float = 25.0,
    width: int = 16,
    depth: int = 20,
) -> ResNet:
    """CIFAR-style ResNet with a softmax, cosine-softmax or Grassmann (GCR) class head; the head's seed is drawn
    from the global RNG, which ``build_model`` has seeded."""
    head_seed = int(torch.randint(2**31 - 1, ()))
    return build_gcr_classifier(head, k, gamma, in_shape[0], num_classes, width, depth, seed=head_seed)


def intra_class_variability(features: Tensor, labels: Tensor) -> float:
    """Ratio of the average within-class to the average overall cosine distance (1 - R^2 of Kornblith
    et al. 2021, the measure the GCR paper reports; larger = more intra-class variability).

    With unit features z = x / ||x||, class means mu_c and K classes (all pairs, self-pairs included):
        d_within = (1/K) sum_c mean_{m,n in c} (1 - z_m.z_n) = (1/K) sum_c (1 - ||mu_c||^2),
        d_total  = (1/K^2) sum_{c,c'} mean_{m in c, n in c'} (1 - z_m.z_n) = 1 - ||mean_c mu_c||^2,
    i.e. the class-averaged within-class variance of z over its total (class-balanced) variance.
    """
    z = F.normalize(features.detach().double(), dim=-1)
    classes = labels.unique()
    means = torch.stack([z[labels == c].mean(dim=0) for c in classes])
    within = (1 - means.pow(2).sum(dim=-1)).mean()
    total = 1 - means.mean(dim=0).pow(2).sum()
    return float(within / total)
