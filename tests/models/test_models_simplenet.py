"""SimpleNet against paper 3, Table 6: layer output sizes and exact weight counts W."""

import pytest
import torch
from torch import nn

from bitrobust.models import build_model, count_weights
from bitrobust.nn.norm import ReparameterizedGroupNorm

# Table 6: output size (N_C, N_H, N_W) of every layer, "Avg Pool" excluded.
TABLE6_MNIST = [
    ("conv", 32, 28), ("conv", 64, 28), ("conv", 64, 28), ("conv", 64, 28), ("pool", 64, 14),
    ("conv", 64, 14), ("conv", 64, 14), ("conv", 128, 14), ("pool", 128, 7),
    ("conv", 256, 7), ("conv", 1024, 7), ("conv", 128, 7), ("pool", 128, 3),
    ("conv", 128, 3),
]
TABLE6_CIFAR = [
    ("conv", 64, 32), ("conv", 128, 32), ("conv", 128, 32), ("conv", 128, 32), ("pool", 128, 16),
    ("conv", 128, 16), ("conv", 128, 16), ("conv", 256, 16), ("pool", 256, 8),
    ("conv", 256, 8), ("conv", 256, 8), ("pool", 256, 4),
    ("conv", 512, 4), ("pool", 512, 2),
    ("conv", 2048, 2), ("conv", 256, 2), ("pool", 256, 1),
    ("conv", 256, 1),
]


@pytest.mark.parametrize(
    ("name", "expected_w"), [("simplenet_cifar", 5_498_378), ("simplenet_mnist", 1_082_826)]
)
def test_table6_weight_counts(name: str, expected_w: int) -> None:
    # W counts conv weights + conv biases + GN scale/bias per channel + FC weight/bias.
    model = build_model(name)
    assert count_weights(model) == expected_w
    assert count_weights(build_model(name, norm="gn")) == expected_w
    assert count_weights(build_model(name, norm="bn")) == expected_w


def test_counts_without_norm() -> None:
    # No norm: two fewer parameters per channel of every conv layer.
    assert count_weights(build_model("simplenet_cifar", norm="none")) == 5_498_378 - 2 * 4544
    assert count_weights(build_model("simplenet_mnist", norm="none")) == 1_082_826 - 2 * 2016


def test_default_is_reparameterized_gn() -> None:
    model = build_model("simplenet_cifar", width=0.125)
    norms = [m for m in model.modules() if isinstance(m, ReparameterizedGroupNorm)]
    assert len(norms) == 13
    assert len([m for m in build_model("simplenet_mnist", width=0.125).modules()
                if isinstance(m, ReparameterizedGroupNorm)]) == 11


@pytest.mark.parametrize(
    ("name", "in_channels", "size", "table"),
    [("simplenet_mnist", 1, 28, TABLE6_MNIST), ("simplenet_cifar", 3, 32, TABLE6_CIFAR)],
)
def test_table6_layer_output_sizes(name: str, in_channels: int, size: int, table: list) -> None:
    model = build_model(name, seed=0).eval()
    seen: list[tuple[str, int, int]] = []
    for module in model.features:
        if isinstance(module, (nn.ReLU, nn.MaxPool2d)):
            kind = "conv" if isinstance(module, nn.ReLU) else "pool"
            module.register_forward_hook(
                lambda m, i, o, kind=kind: seen.append((kind, o.shape[1], o.shape[2]))
            )
    with torch.no_grad():
        out = model(torch.randn(1, in_channels, size, size))
    assert seen == table
    assert out.shape == (1, 10)
    assert model.classifier.in_features == table[-1][1]


def test_width_multiplier_scales_channels() -> None:
    model = build_model("simplenet_cifar", width=0.5)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [
        32, 64, 64, 64, 64, 64, 128, 128, 128, 256, 1024, 128, 128
    ]
    assert count_weights(model) < 5_498_378 / 3
