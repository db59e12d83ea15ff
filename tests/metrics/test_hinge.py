"""Hinge regularizer lambda * mean max(0, b - T) on float pre-activations (paper 2, Eq. 7)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from bitrobust.errors import BitrobustError
from bitrobust.metrics.hinge import HingeRegularizer, hinge_penalty, soft_tolerance
from bitrobust.metrics.tolerance import local_tolerance
from bitrobust.models.bnn import build_bnn


@pytest.mark.parametrize("net", ["trained_fc", "trained_cnn"])
def test_soft_tolerance_is_within_half_of_integer_tolerance(net, mnist_small, request):
    model = request.getfixturevalue(net)
    x = mnist_small[2][:64]
    with torch.no_grad():
        soft = soft_tolerance(model, model.trace(x).preacts)
    exact = local_tolerance(model, x)
    for i, (s, e) in enumerate(zip(soft, exact)):
        slack = 0.5 / model.input_max if i == 0 else 0.5  # |tau - (s + 1/2)| <= 1/2, over Z in layer 1
        assert s.shape == e.shape
        assert float((s.double() - e).abs().max()) <= slack + 1e-3


def test_penalty_formula_and_levels(trained_cnn, mnist_small):
    x = mnist_small[2][:32]
    with torch.no_grad():
        preacts = trained_cnn.trace(x).preacts
        soft = soft_tolerance(trained_cnn, preacts)
        b, lam = 8.0, 0.3
        per_neuron = torch.cat([torch.relu(b - t).flatten(2).mean(2) if t.dim() > 2 else torch.relu(b - t) for t in soft], 1)
        expected = lam * per_neuron.mean()
        assert torch.allclose(hinge_penalty(trained_cnn, preacts, b, lam), expected)
        assert float(hinge_penalty(trained_cnn, preacts, 0.0)) == 0.0
        assert float(hinge_penalty(trained_cnn, preacts, 1e6, 1.0)) > 1e5
        assert HingeRegularizer(b=b, lam=lam).penalty(trained_cnn, preacts) == hinge_penalty(trained_cnn, preacts, b, lam)


def test_training_mode_threshold_matches_batch_norm_sign():
    """With batch statistics, BN(h) > 0 exactly when h is on the positive side of tau."""
    model = build_bnn("C4-MP2-FC8-10", seed=0).train()
    with torch.no_grad():
        for block in model.hidden_blocks:
            block.bn.weight.uniform_(-2, 2)
            block.bn.bias.uniform_(-1, 1)
    x = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    trace = model.trace(x)
    for i, (block, h) in enumerate(zip(model.hidden_blocks, trace.preacts)):
        y = block.bn(h.detach())
        t = soft_tolerance(model, trace.preacts)[i] * (model.input_max if i == 0 else 1)
        shape = (1, -1) + (1,) * (h.dim() - 2)
        # |y| = |gamma| / sigma * |h - tau|
        dims = [0] + list(range(2, h.dim()))
        sigma = torch.sqrt(h.detach().var(dims, unbiased=False) + block.bn.eps)
        torch.testing.assert_close(y.abs(), (block.bn.weight.abs() / sigma).view(shape) * t, rtol=1e-4, atol=1e-3)


def test_gradients_reach_weights_and_bn_and_stay_finite():
    model = build_bnn("C4-MP2-FC8-10", seed=0).train()
    with torch.no_grad():
        model.blocks[1].bn.weight[0] = 0.0  # gamma == 0: tau at infinity, no NaN
    x = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    y = torch.randint(0, 10, (8,))
    trace = model.trace(x)
    loss = F.cross_entropy(trace.logits, y) + HingeRegularizer(b=32, lam=1e-2).penalty(model, trace.preacts)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    reg_only = copy.deepcopy(model)
    reg_only.zero_grad()
    hinge_penalty(reg_only, reg_only.trace(x).preacts, 64.0).backward()
    assert reg_only.blocks[0].layer.weight.grad.abs().sum() > 0  # the regularizer alone moves the weights


def test_errors():
    model = build_bnn("FC4-10", seed=0)
    with pytest.raises(BitrobustError, match="hinge level"):
        HingeRegularizer(b=-1)
    with pytest.raises(BitrobustError, match="hinge weight"):
        HingeRegularizer(lam=-1)
    with pytest.raises(BitrobustError, match="pre-activations"):
        hinge_penalty(model, [], 2.0)
