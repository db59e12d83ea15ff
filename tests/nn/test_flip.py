"""Flip operators (straight-through vs native) and externally supplied binary weights."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import build_bnn
from bitrobust.nn.binary import BinaryLinear, binarize
from bitrobust.nn.flip import (
    FLIP_MODES,
    FlipSettings,
    binary_layers,
    binary_weight_codes,
    binary_weight_names,
    binary_weights_override,
    clear_binary_weights,
    clear_flip,
    codes_to_signs,
    flip_mask,
    native_flip,
    set_binary_weights,
    set_flip,
    straight_through_flip,
)


def test_settings_validate():
    assert FLIP_MODES.names() == ["native", "straight_through"]
    with pytest.raises(BitrobustError, match="native, straight_through"):
        FlipSettings(0.1, "hirtzlin")
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(BitrobustError, match="flip rate"):
            FlipSettings(p)
    with pytest.raises(Exception):
        FlipSettings(0.1).p = 0.2  # frozen


@settings(max_examples=25, deadline=None)
@given(st.floats(0, 1), st.integers(0, 2**31 - 1))
def test_flip_mask_rate_and_reproducibility(p, seed):
    m1 = flip_mask((200, 50), p, torch.Generator().manual_seed(seed))
    m2 = flip_mask((200, 50), p, torch.Generator().manual_seed(seed))
    assert torch.equal(m1, m2) and set(m1.unique().tolist()) <= {-1.0, 1.0}
    rate = float((m1 < 0).float().mean())
    assert abs(rate - p) < 0.03  # 10000 draws: 5 sigma is < 0.025
    if p == 0:
        assert rate == 0
    if p == 1:
        assert rate == 1


def test_straight_through_and_native_gradients_differ_exactly_by_the_mask():
    """grad_native = M * grad_st, and grad_st = the ordinary gradient at the flipped weights."""
    torch.manual_seed(0)
    x, target = torch.randn(8, 6), torch.randn(8, 4)
    grads, outs = {}, {}
    for mode in ("straight_through", "native"):
        layer = BinaryLinear(6, 4, generator=torch.Generator().manual_seed(1))
        set_flip(layer, 0.3, mode, generator=torch.Generator().manual_seed(7))
        out = layer(x)
        F.mse_loss(out, target).backward()
        grads[mode], outs[mode] = layer.weight.grad, out.detach()
    mask = flip_mask((4, 6), 0.3, torch.Generator().manual_seed(7))
    assert (mask < 0).any() and (mask > 0).any()
    assert torch.equal(outs["straight_through"], outs["native"])
    assert torch.equal(grads["native"], mask * grads["straight_through"])
    # flip-unaware: the same gradient as an ordinary layer whose weights are E_p(B(W))
    flipped = (binarize(layer.weight.detach()) * mask).requires_grad_(True)
    F.mse_loss(F.linear(x, flipped), target).backward()
    assert torch.equal(grads["straight_through"], flipped.grad)


def test_operator_functions():
    w = torch.tensor([1.0, -1.0, 1.0], requires_grad=True)
    m = torch.tensor([-1.0, 1.0, -1.0])
    straight_through_flip(w, m).backward(torch.tensor([1.0, 2.0, 3.0]))
    assert w.grad.tolist() == [1, 2, 3]
    w.grad = None
    native_flip(w, m).backward(torch.tensor([1.0, 2.0, 3.0]))
    assert w.grad.tolist() == [-1, 2, -3]


def test_fresh_flips_each_pass_training_only_and_clear():
    model = build_bnn("FC32-10", seed=0)
    x = torch.randint(0, 256, (16, 784), dtype=torch.uint8)
    model.eval()
    clean = model(x)
    set_flip(model, 0.2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model(x), clean)  # training_only: no flips in eval mode
    model.train()
    layer = model.blocks[0].layer
    w1, w2 = layer.effective_binary_weight(), layer.effective_binary_weight()
    assert not torch.equal(w1, w2)  # a fresh mask per forward pass
    assert abs(float((w1 != binarize(layer.weight)).float().mean()) - 0.2) < 0.02
    model.eval()
    set_flip(model, FlipSettings(0.2, training_only=False), generator=torch.Generator().manual_seed(0))
    assert not torch.equal(model(x), clean)  # transient errors at evaluation
    clear_flip(model)
    assert torch.equal(model(x), clean) and layer.flip is None
    set_flip(model, 0.0)
    assert layer.flip is None


def test_codes_order_names_and_values():
    model = build_bnn("C4-MP2-FC8-10", seed=0)
    names = binary_weight_names(model)
    params = dict(model.named_parameters())
    weight_order = [n for n in params if n in names]
    assert names == weight_order == ["blocks.0.layer.weight", "blocks.1.layer.weight", "blocks.2.layer.weight"]
    codes = binary_weight_codes(model)
    for name, c in zip(names, codes):
        assert c.dtype == torch.uint8 and c.dim() == 1
        assert torch.equal(c, (params[name].detach().reshape(-1) > 0).to(torch.uint8))
    assert [len(c) for c in codes] == [36, 8 * 4 * 14 * 14, 80]


def test_supplied_weights_replace_binarized_weights():
    model = build_bnn("C4-MP2-FC8-10", seed=0).eval()
    x = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    clean = model(x)
    codes = binary_weight_codes(model)
    with binary_weights_override(model, codes):  # round trip: same weights, same outputs
        assert torch.equal(model(x), clean)
    flipped = [c.clone() for c in codes]
    flipped[0][:18] ^= 1  # flip half of the first layer's bits
    set_binary_weights(model, flipped)
    layer0 = model.blocks[0].layer
    expected = codes_to_signs(flipped[0], layer0.weight.shape)
    assert torch.equal(layer0.effective_binary_weight(), expected)
    assert torch.equal(binary_weight_codes(model)[0], flipped[0])
    assert not torch.equal(model(x), clean)
    # gradients pass straight through to the latent weights
    trained = copy.deepcopy(model).train()
    trained(x).sum().backward()
    grad = trained.blocks[0].layer.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    clear_binary_weights(model)
    assert torch.equal(model(x), clean)
    # +-1 floats and None entries are accepted too
    signs = [None, None, -torch.ones(80)]
    with binary_weights_override(model, signs):
        assert torch.equal(model.blocks[2].layer.effective_binary_weight(), -torch.ones(10, 8))
    assert model.blocks[2].layer.weight_override is None


@pytest.mark.parametrize(
    "weights, match",
    [
        ([torch.zeros(36, dtype=torch.uint8)], "3 binary layers"),
        ([torch.zeros(35, dtype=torch.uint8), None, None], "35 codes"),
        ([torch.full((36,), 2, dtype=torch.uint8), None, None], "0 or 1"),
        ([torch.zeros(36), None, None], r"\+1 or -1"),
    ],
)
def test_bad_supplied_weights(weights, match):
    model = build_bnn("C4-MP2-FC8-10", seed=0)
    with pytest.raises(BitrobustError, match=match):
        set_binary_weights(model, weights)
    with pytest.raises(BitrobustError, match="no binary layers"):
        binary_weight_codes(torch.nn.Linear(2, 2))


def test_persistent_chip_from_bit_errors_uses_the_same_path():
    bit_errors = pytest.importorskip("bitrobust.bit_errors.random_chips")
    model = build_bnn("FC16-10", seed=0).eval()
    codes = binary_weight_codes(model)
    flat = torch.cat(codes)
    chip = bit_errors.RandomBitErrors(0.1, chip=0)
    faulty = chip.apply(flat, bits=1)
    rate = float((faulty != flat).float().mean())
    assert 0.05 < rate < 0.15
    per_layer = list(torch.split(faulty, [len(c) for c in codes]))
    set_binary_weights(model, per_layer)
    for (_, layer), c in zip(binary_layers(model), per_layer):
        assert torch.equal(layer.effective_binary_weight(), codes_to_signs(c, layer.weight.shape))
