"""Flip operators (straight-through vs native), flip masks, and flip training on a model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import build_bnn
from bitrobust.nn.binary import BinaryLinear, binarize, clear_flip, set_flip
from bitrobust.nn.flip import FLIP_MODES, FlipSettings, flip_mask, native_flip, straight_through_flip


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
