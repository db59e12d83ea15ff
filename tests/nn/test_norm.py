import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.nn.norm import (
    NORM_LAYERS,
    NORMS,
    ReparameterizedBatchNorm,
    ReparameterizedGroupNorm,
    default_groups,
    make_norm,
)


def _x(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 3 + 1


def test_registry_names() -> None:
    assert NORMS.names() == ["bn", "gn", "none", "rbn", "rgn"]


def test_unknown_norm_lists_valid_names() -> None:
    with pytest.raises(BitrobustError, match=r"unknown normalization 'ln'; valid: bn, gn, none, rbn, rgn"):
        make_norm("ln", 16)


@pytest.mark.parametrize(
    ("channels", "groups"),
    [(1, 1), (2, 1), (12, 6), (16, 8), (32, 16), (48, 24), (64, 32), (120, 24), (128, 32), (2048, 32)],
)
def test_default_groups_known_values(channels: int, groups: int) -> None:
    assert default_groups(channels) == groups


@given(st.integers(1, 5000))
def test_default_groups_divides(channels: int) -> None:
    g = default_groups(channels)
    assert channels % g == 0 and 1 <= g <= max(1, channels // 2) and g <= 32


def test_bad_groups_raise() -> None:
    with pytest.raises(BitrobustError, match="divide"):
        make_norm("gn", 10, groups=4)
    with pytest.raises(BitrobustError, match="divide"):
        make_norm("rgn", 10, groups=0)
    with pytest.raises(BitrobustError, match="dim"):
        make_norm("bn", 10, dim=3)
    with pytest.raises(BitrobustError, match="channels"):
        make_norm("bn", 0)


def test_make_norm_types() -> None:
    assert isinstance(make_norm("none", 8), nn.Identity)
    assert isinstance(make_norm("bn", 8), nn.BatchNorm2d)
    assert isinstance(make_norm("bn", 8, dim=1), nn.BatchNorm1d)
    gn = make_norm("gn", 64)
    assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 32
    assert make_norm("gn", 64, groups=4).num_groups == 4
    rgn = make_norm("rgn", 120)
    assert isinstance(rgn, ReparameterizedGroupNorm) and rgn.num_groups == 24
    rbn = make_norm("rbn", 8, dim=1)
    assert isinstance(rbn, ReparameterizedBatchNorm) and rbn.dim == 1
    for name in ("bn", "gn", "rbn", "rgn"):
        assert isinstance(make_norm(name, 8), NORM_LAYERS)


@pytest.mark.parametrize("name", ["rgn", "rbn"])
def test_reparameterized_parameters_start_at_zero(name: str) -> None:
    layer = make_norm(name, 16)
    params = dict(layer.named_parameters())
    assert list(params) == ["weight_delta", "bias"]
    assert all(torch.equal(p, torch.zeros(16)) for p in params.values())
    assert torch.equal(layer.scale, torch.ones(16))


@pytest.mark.parametrize("shape", [(4, 16, 5, 5), (4, 16)])
def test_rgn_equals_gn_at_init(shape: tuple[int, ...]) -> None:
    x = _x(*shape)
    dim = 2 if len(shape) == 4 else 1
    torch.testing.assert_close(make_norm("rgn", 16, dim=dim)(x), nn.GroupNorm(8, 16)(x))


@given(st.sampled_from([(8, 2), (12, 3), (16, 16), (6, 1)]), st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_rgn_scale_is_one_plus_delta(cg: tuple[int, int], seed: int) -> None:
    channels, groups = cg
    gen = torch.Generator().manual_seed(seed)
    rgn = ReparameterizedGroupNorm(groups, channels)
    gn = nn.GroupNorm(groups, channels)
    with torch.no_grad():
        rgn.weight_delta.copy_(torch.randn(channels, generator=gen))
        rgn.bias.copy_(torch.randn(channels, generator=gen))
        gn.weight.copy_(1 + rgn.weight_delta)
        gn.bias.copy_(rgn.bias)
    x = torch.randn(3, channels, 4, 4, generator=gen)
    torch.testing.assert_close(rgn(x), gn(x))
    torch.testing.assert_close(rgn.scale, 1 + rgn.weight_delta)


@pytest.mark.parametrize(("dim", "shape"), [(2, (8, 6, 4, 4)), (1, (8, 6)), (1, (8, 6, 5))])
def test_rbn_equals_bn_train_and_eval(dim: int, shape: tuple[int, ...]) -> None:
    rbn = make_norm("rbn", 6, dim=dim)
    bn = make_norm("bn", 6, dim=dim)
    delta = torch.linspace(-0.5, 0.5, 6)
    with torch.no_grad():
        rbn.weight_delta.copy_(delta)
        bn.weight.copy_(1 + delta)
    for step in range(3):
        x = _x(*shape, seed=step)
        torch.testing.assert_close(rbn(x), bn(x))
    for buf in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(rbn, buf), getattr(bn, buf))
    rbn.eval()
    bn.eval()
    x = _x(*shape, seed=9)
    torch.testing.assert_close(rbn(x), bn(x))


def test_rbn_checks_input_dims() -> None:
    with pytest.raises(ValueError, match="4D"):
        make_norm("rbn", 6)(torch.zeros(2, 6))
    with pytest.raises(ValueError, match="2D or 3D"):
        make_norm("rbn", 6, dim=1)(torch.zeros(2, 6, 3, 3))


def test_clipping_keeps_scale_near_one() -> None:
    # The point of App. E: clipping every parameter to [-w_max, w_max] caps a plain scale
    # at w_max but leaves the reparameterized scale 1 + alpha' in [1 - w_max, 1 + w_max].
    rgn, gn = make_norm("rgn", 8), make_norm("gn", 8)
    for layer in (rgn, gn):
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(0.5).clamp_(-0.1, 0.1)
    assert torch.all((rgn.scale >= 0.9) & (rgn.scale <= 1.1))
    assert torch.all(gn.weight <= 0.1)


@pytest.mark.parametrize("name", ["rgn", "rbn"])
def test_deepcopy_and_functional_call(name: str) -> None:
    layer = make_norm(name, 8).eval()
    x = _x(2, 8, 3, 3)
    clone = copy.deepcopy(layer)
    params = {k: v + 0.25 for k, v in layer.named_parameters()}
    buffers = dict(layer.named_buffers())
    out = torch.func.functional_call(layer, {**params, **buffers}, (x,))
    with torch.no_grad():
        for p in clone.parameters():
            p.add_(0.25)
    torch.testing.assert_close(out, clone(x))
