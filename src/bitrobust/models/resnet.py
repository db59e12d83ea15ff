"""CIFAR-style ResNet-20 and ResNet-50 (He et al., 2016), used in paper 3, App. G.7.

Both start with a 3x3 stride-1 conv and no max pool, as is usual for 32x32 inputs.
ResNet-20 has 3 stages of 16/32/64 channels with 3 basic blocks each; ResNet-50
follows the official PyTorch bottleneck design (stride on the 3x3 conv, stages of
3/4/6/3 blocks, 64..2048 channels; about 23.5M weights, App. G.7). Shortcuts that
change shape are 1x1 conv + norm (option B, as in PyTorch). Convs followed by a
norm have no bias, as in PyTorch; with ``norm="none"`` they get one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.models.base import MODEL_COSTS, MODELS, ModelCost, he_init, scaled, width_squared
from bitrobust.nn.norm import make_norm


def _shortcut(in_ch: int, out_ch: int, stride: int, norm: str) -> nn.Module:
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=norm == "none"), make_norm(norm, out_ch)
    )


class BasicBlock(nn.Module):
    """conv3x3-norm-ReLU-conv3x3-norm, plus shortcut, then ReLU."""

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int, norm: str) -> None:
        super().__init__()
        bias = norm == "none"
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride=stride, padding=1, bias=bias)
        self.norm1 = make_norm(norm, planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=bias)
        self.norm2 = make_norm(norm, planes)
        self.shortcut = _shortcut(in_ch, planes, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """conv1x1-norm-ReLU-conv3x3(stride)-norm-ReLU-conv1x1(4x)-norm, plus shortcut, ReLU."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int, norm: str) -> None:
        super().__init__()
        bias = norm == "none"
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=bias)
        self.norm1 = make_norm(norm, planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=bias)
        self.norm2 = make_norm(norm, planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=bias)
        self.norm3 = make_norm(norm, out_ch)
        self.shortcut = _shortcut(in_ch, out_ch, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = F.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Stem conv3x3 + norm + ReLU, stages of blocks (stride 2 from the 2nd stage), avg pool, linear."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        blocks: list[int],
        base: int,
        *,
        num_classes: int,
        in_channels: int,
        norm: str,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, base, 3, padding=1, bias=norm == "none")
        self.norm1 = make_norm(norm, base)
        stages: list[nn.Module] = []
        channels = base
        for i, n in enumerate(blocks):
            planes = base * 2**i
            layers = []
            for j in range(n):
                layers.append(block(channels, planes, 2 if (i > 0 and j == 0) else 1, norm))
                channels = planes * block.expansion
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stages(F.relu(self.norm1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(out), 1))


@MODELS.register("resnet20")
def resnet20(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    norm: str = "rgn",
    width: float = 1.0,
    generator: torch.Generator | None = None,
) -> ResNet:
    """ResNet-20: 3 stages x 3 basic blocks, 16/32/64 channels (times ``width``)."""
    model = ResNet(BasicBlock, [3, 3, 3], scaled(16, width), num_classes=num_classes,
                   in_channels=in_channels, norm=norm)
    he_init(model, mode="fan_out", generator=generator)
    return model


@MODELS.register("resnet50")
def resnet50(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    norm: str = "rgn",
    width: float = 1.0,
    generator: torch.Generator | None = None,
) -> ResNet:
    """ResNet-50: bottleneck stages of 3/4/6/3 blocks, 64..512 (x4) channels, CIFAR stem."""
    model = ResNet(Bottleneck, [3, 4, 6, 3], scaled(64, width), num_classes=num_classes,
                   in_channels=in_channels, norm=norm)
    he_init(model, mode="fan_out", generator=generator)
    return model


# CPU: measured at width 0.5 (0.72 s, 16 s) on the project's 2-core machine, one thread, x4 for width 1;
# GPU: rough guesses for one data-centre GPU, batch 128 (not measured).
MODEL_COSTS.add("resnet20", width_squared(ModelCost(cpu=(2.9, 64.0), gpu=(0.015, 0.4))))
MODEL_COSTS.add("resnet50", width_squared(ModelCost(gpu=(0.06, 2.0))))
