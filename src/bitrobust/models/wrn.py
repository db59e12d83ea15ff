"""Wide ResNet 28-10 (Zagoruyko & Komodakis, 2016) for CIFAR100, paper 3, App. F.

Pre-activation blocks (norm-ReLU-conv3x3-norm-ReLU-conv3x3), 3 stages of (28-4)/6 = 4
blocks with base*k, 2*base*k, 4*base*k channels. The paper adapts
meliketoy/wide-resnet.pytorch (convs with biases, stride on the block's second conv)
but uses ``base_width=12`` instead of 16, which cuts W from about 36.5M to 20.5M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.models.base import MODEL_COSTS, MODELS, ModelCost, he_init, scaled, width_squared
from bitrobust.nn.norm import make_norm


class WideBlock(nn.Module):
    """norm-ReLU-conv3x3-norm-ReLU-conv3x3(stride) plus shortcut (1x1 conv when shapes change)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, norm: str) -> None:
        super().__init__()
        self.norm1 = make_norm(norm, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = make_norm(norm, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=stride, padding=1)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + self.shortcut(x)


class WideResNet(nn.Module):
    """Stem conv3x3, three stages of wide blocks, final norm + ReLU, avg pool, linear."""

    def __init__(
        self, depth: int, widen_factor: int, base: int, *, num_classes: int, in_channels: int, norm: str
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise BitrobustError(f"WRN depth must be 6n+4 with n >= 1, got {depth}")
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(in_channels, base, 3, padding=1)
        stages: list[nn.Module] = []
        channels = base
        for i in range(3):
            out = base * widen_factor * 2**i
            blocks = []
            for j in range(n):
                blocks.append(WideBlock(channels, out, 2 if (i > 0 and j == 0) else 1, norm))
                channels = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.norm = make_norm(norm, channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm(self.stages(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(out), 1))


@MODELS.register("wrn28_10")
def wrn28_10(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    norm: str = "rgn",
    width: float = 1.0,
    base_width: int = 12,
    depth: int = 28,
    widen_factor: int = 10,
    generator: torch.Generator | None = None,
) -> WideResNet:
    """WRN-``depth``-``widen_factor`` with ``base_width`` (12 in the paper, 16 in the original)
    stem channels; ``width`` multiplies ``base_width``."""
    model = WideResNet(depth, widen_factor, scaled(base_width, width), num_classes=num_classes,
                       in_channels=in_channels, norm=norm)
    he_init(model, mode="fan_out", generator=generator)
    return model


# GPU: rough guesses for one data-centre GPU, batch 128 (not measured).
MODEL_COSTS.add("wrn28_10", width_squared(ModelCost(gpu=(0.10, 2.5))))
