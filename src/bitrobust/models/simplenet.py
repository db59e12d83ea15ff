"""SimpleNet for CIFAR10 and MNIST exactly as paper 3, Table 6 (HasanPour et al., 2016).

Thirteen (CIFAR) or eleven (MNIST) conv + norm + ReLU layers with 2x2 max pools, a
global average pool and one linear layer. The MNIST net halves every channel width
and skips one conv/pool stage (App. F). With conv biases and reparameterized GN
(scale and bias per channel, App. E) the weight counts are exactly Table 6's W:
5,498,378 (CIFAR10) and 1,082,826 (MNIST). Table 6's final "Avg Pool" is a global
average pool (a public reference implementation uses a global max pool there, which
differs only on MNIST, where 3x3 positions remain); dropout is left out.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from bitrobust.models.base import MODEL_COSTS, MODELS, ModelCost, he_init, scaled, width_squared
from bitrobust.nn.norm import make_norm

# Layer plans as (channel multiple of the base width c, kernel size), "P" = 2x2 max pool.
# CIFAR10: c = 64 (64, 128, ..., 2048 channels); MNIST: c = 32.
_CIFAR_PLAN: list[tuple[int, int] | str] = [
    (1, 3), (2, 3), (2, 3), (2, 3), "P", (2, 3), (2, 3), (4, 3), "P", (4, 3), (4, 3), "P",
    (8, 3), "P", (32, 1), (4, 1), "P", (4, 3),
]
_MNIST_PLAN: list[tuple[int, int] | str] = [
    (1, 3), (2, 3), (2, 3), (2, 3), "P", (2, 3), (2, 3), (4, 3), "P", (8, 3), (32, 1), (4, 1), "P",
    (4, 3),
]


class SimpleNet(nn.Module):
    """Conv stack from a layer plan, then global average pool and a linear classifier.

    Parameter names: ``features.conv{i}.weight/bias``, ``features.norm{i}.*`` and
    ``classifier.weight/bias``.
    """

    def __init__(
        self,
        plan: list[tuple[int, int] | str],
        base: int,
        *,
        num_classes: int,
        in_channels: int,
        norm: str,
    ) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels, conv_i, pool_i = in_channels, 0, 0
        for step in plan:
            if step == "P":
                pool_i += 1
                layers[f"pool{pool_i}"] = nn.MaxPool2d(2, 2)
                continue
            multiple, kernel = step
            out = multiple * base
            conv_i += 1
            layers[f"conv{conv_i}"] = nn.Conv2d(channels, out, kernel, padding=kernel // 2)
            layers[f"norm{conv_i}"] = make_norm(norm, out)
            layers[f"relu{conv_i}"] = nn.ReLU()
            channels = out
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@MODELS.register("simplenet_cifar")
def simplenet_cifar(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    norm: str = "rgn",
    width: float = 1.0,
    generator: torch.Generator | None = None,
) -> SimpleNet:
    """SimpleNet for 32x32 inputs (Table 6, middle): base width 64, W = 5,498,378."""
    model = SimpleNet(_CIFAR_PLAN, scaled(64, width), num_classes=num_classes,
                      in_channels=in_channels, norm=norm)
    he_init(model, generator=generator)
    return model


@MODELS.register("simplenet_mnist")
def simplenet_mnist(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    norm: str = "rgn",
    width: float = 1.0,
    generator: torch.Generator | None = None,
) -> SimpleNet:
    """SimpleNet for 28x28 inputs (Table 6, left): base width 32, W = 1,082,826."""
    model = SimpleNet(_MNIST_PLAN, scaled(32, width), num_classes=num_classes,
                      in_channels=in_channels, norm=norm)
    he_init(model, generator=generator)
    return model


# GPU: rough guesses for one data-centre GPU, batch 128 (not measured). CPU (simplenet_mnist, one thread of
# the 2-core development machine, torch 2.13): 1.42 s per training step of 128 images (an epoch of the medium
# p3-table21 run: 469 steps + one test pass in 723 s), 5.85 s per 1,000 test images.
MODEL_COSTS.add("simplenet_mnist", width_squared(ModelCost(cpu=(1.42, 58.5), gpu=(0.012, 0.3))))
MODEL_COSTS.add("simplenet_cifar", width_squared(ModelCost(gpu=(0.025, 0.8))))
