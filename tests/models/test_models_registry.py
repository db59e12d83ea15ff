"""Every registered architecture: forward shapes, norms, counts, build_model errors."""

import copy

import pytest
import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.models import MODELS, build_model, count_weights, describe, parameter_table
from bitrobust.nn.norm import NORM_LAYERS

# name -> (small build options, input shape (C, H, W)); widths keep the tests fast.
SMALL = {
    "simplenet_cifar": ({"width": 0.125}, (3, 32, 32)),
    "simplenet_mnist": ({"width": 0.25}, (1, 28, 28)),
    "resnet20": ({"width": 0.5}, (3, 32, 32)),
    "resnet50": ({"width": 0.125}, (3, 32, 32)),
    "wrn28_10": ({"width": 0.25}, (3, 32, 32)),
    "mlp": ({"width": 0.25}, (1, 28, 28)),
    "cnn_small": ({"width": 0.5}, (1, 28, 28)),
}
NORMS = ["gn", "bn", "rgn", "rbn", "none"]


def test_registered_names() -> None:
    assert set(SMALL) <= set(MODELS.names())


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("norm", NORMS)
def test_forward_shape_every_norm(name: str, norm: str) -> None:
    options, shape = SMALL[name]
    model = build_model(name, norm=norm, num_classes=7, seed=0, **options)
    out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    has_norm = any(isinstance(m, NORM_LAYERS) for m in model.modules())
    assert has_norm == (norm != "none")


@pytest.mark.parametrize(("name", "in_channels", "size"), [("resnet50", 3, 32), ("wrn28_10", 3, 32)])
def test_full_size_forward_batch2(name: str, in_channels: int, size: int) -> None:
    model = build_model(name, num_classes=100, seed=0).eval()
    with torch.no_grad():
        assert model(torch.randn(2, in_channels, size, size)).shape == (2, 100)


@pytest.mark.parametrize(
    ("name", "in_channels", "size"),
    [("simplenet_cifar", 1, 32), ("simplenet_mnist", 3, 28), ("resnet20", 1, 28),
     ("wrn28_10", 1, 28), ("mlp", 3, 32), ("cnn_small", 3, 32)],
)
def test_in_channels_and_resolution(name: str, in_channels: int, size: int) -> None:
    extra = {"input_size": size} if name in ("mlp", "cnn_small") else {}
    model = build_model(name, in_channels=in_channels, width=0.125, **extra)
    assert model(torch.randn(2, in_channels, size, size)).shape == (2, 10)


def test_resnet_counts() -> None:
    # App. G.7: ResNet-50 has roughly 23.5M weights; ResNet-20 about 0.27M.
    assert count_weights(build_model("resnet50")) == 23_520_842
    assert count_weights(build_model("resnet20")) == 272_474


@pytest.mark.parametrize(("base_width", "paper_w"), [(12, 20.5e6), (16, 36.5e6)])
def test_wrn_counts_match_paper(base_width: int, paper_w: float) -> None:
    # App. F: 12 instead of 16 base channels reduces W from ~36.5M to ~20.5M (CIFAR100).
    w = count_weights(build_model("wrn28_10", num_classes=100, base_width=base_width))
    assert abs(w - paper_w) / paper_w < 0.005
    assert w == {12: 20_575_060, 16: 36_546_980}[base_width]


def test_small_models() -> None:
    assert count_weights(build_model("cnn_small")) == 50_378
    assert count_weights(build_model("mlp")) == 784 * 256 + 256 + 256 * 256 + 256 + 2570
    assert count_weights(build_model("mlp", hidden=(64,), norm="rbn")) == 784 * 64 + 64 + 128 + 650


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(BitrobustError, match=r"unknown model 'vgg16'; valid: .*resnet20.*simplenet_cifar"):
        build_model("vgg16")


def test_bad_options_raise() -> None:
    with pytest.raises(BitrobustError, match="unknown normalization 'layer'; valid: bn, gn, none, rbn, rgn"):
        build_model("cnn_small", norm="layer")
    with pytest.raises(BitrobustError, match="no option base_width; valid: .*norm"):
        build_model("resnet20", base_width=12)
    with pytest.raises(BitrobustError, match="width"):
        build_model("mlp", width=0)
    with pytest.raises(BitrobustError, match="num_classes"):
        build_model("mlp", num_classes=0)
    with pytest.raises(BitrobustError, match="in_channels"):
        build_model("mlp", in_channels=0)
    with pytest.raises(BitrobustError, match="depth"):
        build_model("wrn28_10", depth=27, width=0.1)


def test_seed_is_deterministic() -> None:
    a = build_model("cnn_small", seed=3).state_dict()
    b = build_model("cnn_small", seed=3).state_dict()
    c = build_model("cnn_small", seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_plain_modules(name: str) -> None:
    # Plain nn.Modules with float parameters only; no in-place ops; deepcopy and
    # torch.func.functional_call give the same result as the module itself.
    options, shape = SMALL[name]
    model = build_model(name, seed=0, **options).eval()
    assert all(p.is_floating_point() and p.requires_grad for p in model.parameters())
    assert not any(getattr(m, "inplace", False) for m in model.modules())
    x = torch.randn(2, *shape)
    params = {k: v * 0.5 for k, v in model.named_parameters()}
    out = torch.func.functional_call(model, {**params, **dict(model.named_buffers())}, (x,))
    clone = copy.deepcopy(model)
    with torch.no_grad():
        for p in clone.parameters():
            p.mul_(0.5)
    torch.testing.assert_close(out, clone(x))


def test_describe_and_parameter_table() -> None:
    model = build_model("cnn_small")
    rows = parameter_table(model)
    assert [r.name for r in rows] == [n for n, _ in model.named_parameters()]
    assert rows[0].name == "conv1.weight" and rows[0].shape == (32, 1, 3, 3) and rows[0].count == 288
    text = describe(model)
    assert "| `norm1.weight_delta` | 32 | 32 |" in text
    assert text.splitlines()[-1] == "| **total W** | | 50,378 |"


def test_no_bias_before_norm_in_resnet() -> None:
    convs = [m for m in build_model("resnet20").modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    convs = [m for m in build_model("resnet20", norm="none").modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
