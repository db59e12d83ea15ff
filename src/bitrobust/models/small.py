"""Small MLP and CNN for quick CPU experiments on MNIST-sized inputs.

Not from the papers: they let tests, examples and benchmarks run the whole quantize ->
inject -> train -> evaluate loop in seconds. ``cnn_small`` (two 3x3 conv + norm + ReLU
+ 2x2 max-pool stages, 32/64 channels, linear head; 50,378 weights) reaches about 98%
MNIST test accuracy after one epoch (batch 128, Adam 1e-3 or SGD 0.01 with momentum
0.9) in 20-40 s on two CPU cores.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.models.base import MODEL_COSTS, MODELS, ModelCost, he_init, scaled, width_squared
from bitrobust.nn.norm import make_norm


@MODELS.register("mlp")
def mlp(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    hidden: Sequence[int] = (256, 256),
    norm: str = "none",
    width: float = 1.0,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """Flatten, then Linear + norm (1-d) + ReLU per hidden size (times ``width``), then Linear."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    features = in_channels * input_size * input_size
    for i, size in enumerate(hidden, start=1):
        out = scaled(size, width)
        layers[f"fc{i}"] = nn.Linear(features, out)
        layers[f"norm{i}"] = make_norm(norm, out, dim=1)
        layers[f"relu{i}"] = nn.ReLU()
        features = out
    layers["classifier"] = nn.Linear(features, num_classes)
    model = nn.Sequential(layers)
    he_init(model, generator=generator)
    return model


@MODELS.register("cnn_small")
def cnn_small(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    channels: Sequence[int] = (32, 64),
    norm: str = "rgn",
    width: float = 1.0,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """Per entry of ``channels``: conv3x3 + norm + ReLU + 2x2 max pool; then a linear head."""
    size = input_size // 2 ** len(channels)
    if size < 1:
        raise BitrobustError(f"input_size {input_size} is too small for {len(channels)} pooling stages")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    c_in = in_channels
    for i, c in enumerate(channels, start=1):
        c_out = scaled(c, width)
        layers[f"conv{i}"] = nn.Conv2d(c_in, c_out, 3, padding=1)
        layers[f"norm{i}"] = make_norm(norm, c_out)
        layers[f"relu{i}"] = nn.ReLU()
        layers[f"pool{i}"] = nn.MaxPool2d(2, 2)
        c_in = c_out
    layers["flatten"] = nn.Flatten()
    layers["classifier"] = nn.Linear(c_in * size * size, num_classes)
    model = nn.Sequential(layers)
    he_init(model, generator=generator)
    return model


# CPU: one thread of the project's 2-core machine, torch 2.13, read off the quick p3-table5/p3-table10 runs (two
# experiments side by side, one per core): an epoch of 157 steps + one 10k test pass takes 18.5 s, evaluation passes
# 5.2 s per 10k images. GPU: rough guesses for one data-centre GPU, batch 128 (not measured).
MODEL_COSTS.add("cnn_small", width_squared(ModelCost(cpu=(0.085, 5.2), gpu=(0.004, 0.05))))
