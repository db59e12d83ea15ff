"""Binary layers: b(x), straight-through gradients, clipping, foldable batch norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import build_bnn
from bitrobust.nn.binary import (
    BinaryConv2d,
    BinaryLinear,
    FoldableBatchNorm1d,
    FoldableBatchNorm2d,
    SignActivation,
    binarize,
    binary_weight_codes,
    binary_weight_names,
    clip_latent_weights,
    sign_ste,
)


def test_binarize_zero_is_minus_one():
    x = torch.tensor([-2.0, -0.0, 0.0, 1e-30, 3.0])
    assert binarize(x).tolist() == [-1, -1, -1, 1, 1]


@pytest.mark.parametrize("ste", ["identity", "htanh"])
def test_sign_ste_gradients(ste):
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0], requires_grad=True)
    y = sign_ste(x, ste)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1]
    g = torch.arange(1.0, 7.0)
    y.backward(g)
    expected = g if ste == "identity" else g * torch.tensor([0, 1, 1, 1, 1, 0.0])  # paper 2, Eq. 1 / Htanh
    assert torch.equal(x.grad, expected)
    with pytest.raises(BitrobustError, match="identity"):
        sign_ste(x, "sigmoid")


def test_binary_linear_uses_signs_and_passes_gradient_straight_through():
    torch.manual_seed(0)
    layer = BinaryLinear(5, 3, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 5)
    out = layer(x)
    wb = binarize(layer.weight.detach()).requires_grad_(True)
    ref = F.linear(x, wb)
    assert torch.equal(out, ref)
    g = torch.randn_like(out)
    out.backward(g)
    ref.backward(g)
    assert torch.equal(layer.weight.grad, wb.grad)  # grad_W = grad_B(W)


def test_binary_conv_uses_signs_with_zero_padding():
    conv = BinaryConv2d(2, 3, generator=torch.Generator().manual_seed(1))
    x = torch.randint(-1, 2, (2, 2, 5, 5)).float()
    assert torch.equal(conv(x), F.conv2d(x, binarize(conv.weight.detach()), padding=1))
    assert conv.weight.shape == (3, 2, 3, 3) and conv.bias is None


def test_clip_latent_weights_after_step():
    model = build_bnn("C2-MP2-FC4-10", seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(100)
    clip_latent_weights(model)
    assert model.blocks[0].layer.weight.abs().max() <= 1 and model.blocks[1].layer.weight.abs().max() <= 1
    assert model.blocks[0].bn.weight.abs().max() == 100  # only binary latent weights are clipped
    with pytest.raises(BitrobustError):
        clip_latent_weights(model, 0)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_foldable_batchnorm_matches_torch(channels, seed):
    g = torch.Generator().manual_seed(seed)
    ours, ref = FoldableBatchNorm2d(channels), torch.nn.BatchNorm2d(channels)
    gamma, beta = torch.randn(channels, generator=g), torch.randn(channels, generator=g)
    with torch.no_grad():
        for m in (ours, ref):
            m.weight.copy_(gamma)
            m.bias.copy_(beta)
    x = torch.randn(4, channels, 3, 3, generator=g) * 10
    assert torch.equal(ours(x), ref(x))  # training mode: plain batch norm, same running stats
    assert torch.equal(ours.running_var, ref.running_var)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    assert ours.state_dict().keys() == ref.state_dict().keys()


def test_foldable_batchnorm_eval_is_shape_independent():
    bn = FoldableBatchNorm1d(7)
    with torch.no_grad():
        bn.running_mean.uniform_(-50, 50)
        bn.running_var.uniform_(0.1, 100)
        bn.weight.normal_()
        bn.bias.normal_()
    bn.eval()
    h = torch.arange(-300, 301, dtype=torch.float32).repeat(7, 1).t().contiguous()  # (601, 7)
    full = bn(h)
    rows = torch.cat([bn(h[i : i + 1]) for i in range(0, 601, 37)])
    assert torch.equal(full[::37], rows)


def test_sign_activation_and_small_training_run(mnist_small):
    assert SignActivation("htanh")(torch.tensor([0.0, 0.1])).tolist() == [-1, 1]
    xtr, ytr, xte, yte = mnist_small
    model = build_bnn("FC16-10", seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(60):
        idx = torch.randint(0, len(xtr), (64,), generator=gen)
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        clip_latent_weights(model)
        losses.append(loss.item())
    assert sum(losses[-10:]) < sum(losses[:10])
    assert model.blocks[0].layer.weight.abs().max() <= 1
    with torch.no_grad():
        acc = (model.eval()(xte).argmax(1) == yte).float().mean()
    assert acc > 0.5


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
    with pytest.raises(BitrobustError, match="no binary layers"):
        binary_weight_codes(torch.nn.Linear(2, 2))
