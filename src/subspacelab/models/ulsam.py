"""ULSAM (Saini et al., WACV 2020) and compact MobileNet-V1/V2 for 32x32 (and 28x28) images.

ULSAM splits the C channels of a feature map F into g contiguous subspaces F_1..F_g of C/g channels.
For each subspace it computes one spatial attention map

    A_i = softmax_{h,w}( ReLU(BN(PW_i( maxpool3x3( ReLU(BN(DW_i(F_i))) ) ))) ),

where DW_i is a depthwise 1x1 conv (one scale and bias per channel), the max-pool has stride 1 and
padding 1 (shape preserving), PW_i is a 1x1 conv from C/g channels to a single map and the softmax runs
over the H*W positions, so each A_i is a probability distribution over positions.  The subspace output
is F_i + A_i * F_i (A_i broadcast over the C/g channels) and the g outputs are concatenated.

The g per-subspace branches are computed at once: a depthwise conv over all C channels, a BatchNorm
over C channels, and a grouped 1x1 conv (groups=g) from C channels to g maps followed by a BatchNorm
over those g maps.  This is the same function and the same parameters (2C + 2C + (C + g) + 2g) as g
separate branches of the official code, only batched.

Backbones are the usual CIFAR adaptations (stem conv stride 1 instead of 2, global average pooling
of whatever spatial size remains, so 28x28 inputs work as well):

- ``MobileNetV1``: 13 depthwise-separable blocks, downsampling 16x in total (stride-2 blocks 2, 4, 6
  and 12); the ImageNet net also has a stride-2 stem (32x).
- ``MobileNetV2``: 17 inverted-residual bottlenecks, downsampling 8x in total (stride-2 in the first
  bottleneck of the 32-, 64- and 160-channel stages); the ImageNet net also has a stride-2 stem and a
  stride-2 24-channel stage (32x).

Block positions are 1-indexed over the blocks (the stem conv is not counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from subspacelab.configurable import configurable, one_of, require

ULSAM_VARIANTS = (None, "insert", "replace")

# MobileNet-V1: (output channels, stride) of the 13 depthwise-separable blocks.
_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
# Default positions: "insert" after the last three blocks; "replace" the last two of the five
# repeated 512-channel blocks (7..11).
_V1_DEFAULT_POSITIONS = {"insert": (11, 12, 13), "replace": (10, 11)}

# MobileNet-V2: (expansion t, output channels c, repeats n, first stride s), CIFAR strides.
_V2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# Default positions: "insert" after the last three bottlenecks; "replace" the two identity-residual
# repeats of the 160-channel stage (bottlenecks 15 and 16).
_V2_DEFAULT_POSITIONS = {"insert": (15, 16, 17), "replace": (15, 16)}


class ULSAM(nn.Module):
    """Ultra-lightweight subspace attention over ``groups`` channel subspaces (shape preserving).

    ``bn_momentum`` uses PyTorch's convention (weight of the new batch statistics).  The official code
    passes ``momentum=0.9``, which in PyTorch makes the running statistics follow the last batch almost
    entirely; the default here is PyTorch's 0.1.
    """

    def __init__(self, channels: int, groups: int, bn_momentum: float = 0.1):
        super().__init__()
        if channels < 1 or groups < 1 or channels % groups != 0:
            raise ValueError(f"ULSAM groups ({groups}) must be a positive divisor of channels ({channels})")
        self.channels = channels
        self.groups = groups
        self.dw = nn.Conv2d(channels, channels, kernel_size=1, groups=channels)
        self.dw_bn = nn.BatchNorm2d(channels, momentum=bn_momentum)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.pw = nn.Conv2d(channels, groups, kernel_size=1, groups=groups)
        self.pw_bn = nn.BatchNorm2d(groups, momentum=bn_momentum)

    def attention_maps(self, x: Tensor) -> Tensor:
        """The g attention maps, shape (B, g, H*W); each row is a softmax over the H*W positions."""
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, H, W), got {tuple(x.shape)}")
        a = self.pool(torch.relu(self.dw_bn(self.dw(x))))
        a = torch.relu(self.pw_bn(self.pw(a)))
        return torch.softmax(a.flatten(2), dim=2)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        attn = self.attention_maps(x).view(b, self.groups, 1, h * w)
        f = x.reshape(b, self.groups, c // self.groups, h * w)
        return (f * attn + f).view(b, c, h, w)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``) without going
    below 90% of it, as in the MobileNet-V2 reference width rule."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _conv_bn_relu(
    c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = False
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(inplace=True) if relu6 else nn.ReLU(inplace=True),
    )


class DepthwiseSeparable(nn.Sequential):
    """MobileNet-V1 block: 3x3 depthwise conv (stride s) + BN + ReLU, 1x1 pointwise conv + BN + ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__(_conv_bn_relu(c_in, c_in, 3, stride, groups=c_in), _conv_bn_relu(c_in, c_out, 1))
        self.c_in, self.c_out, self.stride = c_in, c_out, stride


class InvertedResidual(nn.Module):
    """MobileNet-V2 bottleneck: 1x1 expansion (t*c_in, ReLU6), 3x3 depthwise (stride s, ReLU6), linear 1x1
    projection; identity shortcut when stride is 1 and c_in == c_out."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        hidden = c_in * expansion
        layers: list[nn.Module] = [] if expansion == 1 else [_conv_bn_relu(c_in, hidden, 1, relu6=True)]
        layers += [
            _conv_bn_relu(hidden, hidden, 3, stride, groups=hidden, relu6=True),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        return x + out if self.residual else out


def _resolve_positions(
    ulsam: str | None, positions: Sequence[int] | None, defaults: dict[str, tuple[int, ...]], n_blocks: int
) -> tuple[int, ...]:
    if ulsam not in ULSAM_VARIANTS:
        raise ValueError(f"unknown ulsam variant {ulsam!r}; valid: {ULSAM_VARIANTS}")
    if ulsam is None:
        if positions:
            raise ValueError("ulsam_positions given without an ulsam variant")
        return ()
    chosen = tuple(sorted(set(defaults[ulsam] if positions is None else positions)))
    if not chosen or chosen[0] < 1 or chosen[-1] > n_blocks:
        raise ValueError(f"ulsam_positions must lie in 1..{n_blocks}, got {positions}")
    return chosen


def _assemble(
    blocks: list[nn.Module], ulsam: str | None, positions: tuple[int, ...], groups: int
) -> nn.Sequential:
    """Insert ULSAM after, or substitute it for, the 1-indexed ``positions`` among ``blocks``."""
    out: list[nn.Module] = []
    for i, block in enumerate(blocks, start=1):
        if i not in positions:
            out.append(block)
        elif ulsam == "insert":
            out += [block, ULSAM(block.c_out, groups)]
        else:
            if block.stride != 1 or block.c_in != block.c_out:
                raise ValueError(
                    f"block {i} changes shape ({block.c_in}->{block.c_out}, stride {block.stride}); "
                    "only shape-preserving blocks can be replaced by ULSAM"
                )
            out.append(ULSAM(block.c_in, groups))
    return nn.Sequential(*out)


def _init_backbone(model: nn.Module) -> None:
    """He (fan-out) convs, unit/zero BN, N(0, 0.01) classifier; ULSAM keeps PyTorch's default init as in
    the official code."""
    skip = {id(m) for u in model.modules() if isinstance(u, ULSAM) for m in u.modules()}
    for m in model.modules():
        if id(m) in skip:
            continue
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)


class MobileNetV1(nn.Module):
    """MobileNet-V1 for small images: 3x3 stem (32 ch, stride 1), 13 depthwise-separable blocks, global
    average pool, linear classifier.

    ``ulsam``:
      - ``None``: the baseline.
      - ``"insert"``: ULSAM (``ulsam_groups`` subspaces) added after each block in ``ulsam_positions``
        (default 11, 12, 13: after the last three pointwise convs); a few hundred extra parameters each.
      - ``"replace"``: the blocks in ``ulsam_positions`` (default 10 and 11, the last two of the five
        repeated 512-channel blocks 7..11, i.e. layers 11 and 12 when the stem counts as layer 1) are
        replaced by ULSAM, removing their 3x3 depthwise and 512x512 pointwise convs: fewer parameters
        and FLOPs.  Only stride-1 blocks with equal in/out channels can be replaced.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        width_mult: float = 1.0,
        ulsam: str | None = None,
        ulsam_groups: int = 4,
        ulsam_positions: Sequence[int] | None = None,
    ):
        super().__init__()
        positions = _resolve_positions(ulsam, ulsam_positions, _V1_DEFAULT_POSITIONS, len(_V1_BLOCKS))
        c = make_divisible(32 * width_mult)
        self.stem = _conv_bn_relu(in_channels, c, 3)
        blocks: list[nn.Module] = []
        for c_out, stride in _V1_BLOCKS:
            c_out = make_divisible(c_out * width_mult)
            blocks.append(DepthwiseSeparable(c, c_out, stride))
            c = c_out
        self.blocks = _assemble(blocks, ulsam, positions, ulsam_groups)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)
        self.ulsam, self.ulsam_positions = ulsam, positions
        _init_backbone(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.blocks(self.stem(x))).flatten(1))


class MobileNetV2(nn.Module):
    """MobileNet-V2 for small images: 3x3 stem (32 ch, stride 1), 17 inverted-residual bottlenecks
    (24-channel stage at stride 1), 1x1 conv to 1280 ch, global average pool, linear classifier.

    ``ulsam``:
      - ``None``: the baseline.
      - ``"insert"``: ULSAM added after each bottleneck in ``ulsam_positions`` (default 15, 16, 17: after
        the last three bottlenecks, 160, 160 and 320 channels).
      - ``"replace"``: the bottlenecks in ``ulsam_positions`` (default 15 and 16, the two identity-residual
        repeats of the 160-channel stage) are replaced by ULSAM(160): fewer parameters and FLOPs.  Only
        stride-1 bottlenecks with equal in/out channels can be replaced.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        width_mult: float = 1.0,
        ulsam: str | None = None,
        ulsam_groups: int = 4,
        ulsam_positions: Sequence[int] | None = None,
    ):
        super().__init__()
        n_blocks = sum(n for _, _, n, _ in _V2_STAGES)
        positions = _resolve_positions(ulsam, ulsam_positions, _V2_DEFAULT_POSITIONS, n_blocks)
        c = make_divisible(32 * width_mult)
        self.stem = _conv_bn_relu(in_channels, c, 3, relu6=True)
        blocks: list[nn.Module] = []
        for t, c_out, n, s in _V2_STAGES:
            c_out = make_divisible(c_out * width_mult)
            for i in range(n):
                blocks.append(InvertedResidual(c, c_out, s if i == 0 else 1, t))
                c = c_out
        self.blocks = _assemble(blocks, ulsam, positions, ulsam_groups)
        last = make_divisible(1280 * max(1.0, width_mult))
        self.head = _conv_bn_relu(c, last, 1, relu6=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, num_classes)
        self.ulsam, self.ulsam_positions = ulsam, positions
        _init_backbone(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.head(self.blocks(self.stem(x)))).flatten(1))


@dataclass
class MobileNetConfig:
    width_mult: float = 1.0
    ulsam: str = "none"
    ulsam_groups: int = 4
    ulsam_positions: list[int] | None = None

    def __post_init__(self):
        one_of(self.ulsam, {"none", "insert", "replace"}, "model.ulsam")
        require(self.width_mult > 0, "model.width_mult", f"must be > 0, got {self.width_mult}")
        require(self.ulsam_groups > 0, "model.ulsam_groups", f"must be > 0, got {self.ulsam_groups}")
        require(
            self.ulsam != "none" or not self.ulsam_positions,
            "model.ulsam_positions",
            "given without an ULSAM variant (model.ulsam: insert | replace)",
        )


def _builder(cls: type[nn.Module]):
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


mobilenet_v1 = configurable("mobilenet_v1", MobileNetConfig, task="classification")(_builder(MobileNetV1))
mobilenet_v2 = configurable("mobilenet_v2", MobileNetConfig, task="classification")(_builder(MobileNetV2))
