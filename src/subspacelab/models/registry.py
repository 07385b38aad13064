"""Build a backbone from its name and keyword arguments.

Every builder takes ``in_shape`` (C, H, W) and ``num_classes`` plus its own options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from subspacelab.models.gcr import build_gcr_classifier
from subspacelab.models.ulsam import MobileNetV1, MobileNetV2
from subspacelab.models.vision import MLP, ConvNet, LeNet


def gcr_resnet(
    in_shape=(3, 32, 32),
    num_classes: int = 10,
    head: str = "gcr",
    k: int = 8,
    gamma: float = 25.0,
    width: int = 16,
    depth: int = 20,
) -> nn.Module:
    """CIFAR-style ResNet with a softmax, cosine-softmax or Grassmann (GCR) class head."""
    head_seed = int(torch.randint(2**31 - 1, ()))  # drawn from the seed build_model set
    return build_gcr_classifier(head, k, gamma, in_shape[0], num_classes, width, depth, seed=head_seed)


def _mobilenet(cls: type[nn.Module]) -> Callable[..., nn.Module]:
    def build(
        in_shape=(3, 32, 32),
        num_classes: int = 10,
        width_mult: float = 1.0,
        ulsam: str | None = None,
        ulsam_groups: int = 4,
        ulsam_positions: Sequence[int] | None = None,
    ) -> nn.Module:
        variant = None if ulsam in (None, "none") else ulsam
        positions = None if ulsam_positions is None else list(ulsam_positions)
        return cls(num_classes, in_shape[0], width_mult, variant, ulsam_groups, positions)

    build.__doc__ = (
        f"{cls.__name__} for small images, optionally with ULSAM (``ulsam``: none | insert | replace)."
    )
    return build


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "lenet": LeNet,
    "convnet": ConvNet,
    "gcr_resnet": gcr_resnet,
    "mobilenet_v1": _mobilenet(MobileNetV1),
    "mobilenet_v2": _mobilenet(MobileNetV2),
}


def build_model(arch: str, seed: int, **kwargs) -> nn.Module:
    """Instantiate ``arch`` with its initialisation drawn from ``seed`` (theta0 is reproducible)."""
    if arch not in MODELS:
        raise KeyError(f"unknown model arch {arch!r}; valid: {', '.join(sorted(MODELS))}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[arch](**kwargs)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
