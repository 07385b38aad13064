"""Small vision backbones: the MNIST/CIFAR networks of Li et al. (2018) and a ~1M-parameter conv net.

Initialisation follows the paper's Keras code: kernels He-normal, biases zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from subspacelab.configurable import configurable, require


def he_normal_(module: nn.Module) -> nn.Module:
    """Keras 2 ``he_normal`` kernels (normal, std sqrt(2 / fan_in), cut at 2 std) and zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            fan_in = m.weight[0].numel()
            std = (2.0 / fan_in) ** 0.5
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


@dataclass
class MLPConfig:
    width: int = 200
    depth: int = 2

    def __post_init__(self):
        require(self.width > 0, "model.width", f"must be > 0, got {self.width}")
        require(self.depth >= 0, "model.depth", f"must be >= 0, got {self.depth}")


@dataclass
class LeNetConfig:
    """LeNet-5 has no options."""


@dataclass
class ConvNetConfig:
    channels: int = 32
    hidden: int = 100

    def __post_init__(self):
        require(self.channels > 0, "model.channels", f"must be > 0, got {self.channels}")
        require(self.hidden > 0, "model.hidden", f"must be > 0, got {self.hidden}")


@configurable("mlp", MLPConfig, task="classification")
class MLP(nn.Module):
    """Fully connected ReLU network, e.g. 784-200-200-10 for ``width=200, depth=2``."""

    def __init__(self, in_shape=(1, 28, 28), num_classes: int = 10, width: int = 200, depth: int = 2):
        super().__init__()
        n_in = 1
        for s in in_shape:
            n_in *= s
        layers: list[nn.Module] = [nn.Flatten()]
        for _ in range(depth):
            layers += [nn.Linear(n_in, width), nn.ReLU()]
            n_in = width
        layers.append(nn.Linear(n_in, num_classes))
        self.net = he_normal_(nn.Sequential(*layers))

    def forward(self, x):
        return self.net(x)


@configurable("lenet", LeNetConfig, task="classification")
class LeNet(nn.Module):
    """LeNet-5 as in the paper's code: conv6@5x5, pool, conv16@5x5, pool, 120, 84, classes."""

    def __init__(self, in_shape=(1, 28, 28), num_classes: int = 10):
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, 6, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        fh, fw = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * fh * fw, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )
        he_normal_(self)

    def forward(self, x):
        return self.classifier(self.features(x))


@configurable("convnet", ConvNetConfig, task="classification")
class ConvNet(nn.Module):
    """A plain ~1M-parameter conv net (conv32, conv64, pool, fc100): the benchmark's larger model."""

    def __init__(self, in_shape=(1, 28, 28), num_classes: int = 10, channels: int = 32, hidden: int = 100):
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, 3),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        n = 2 * channels * ((h - 4) // 2) * ((w - 4) // 2)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )
        he_normal_(self)

    def forward(self, x):
        return self.classifier(self.features(x))
