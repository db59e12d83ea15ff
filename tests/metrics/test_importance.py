"""Neuron importance Pi (Algorithm 1 of paper 1) and VAR(Pi): fast == naive, exactly."""

from __future__ import annotations

import copy

import pytest
import torch

from bitrobust.errors import BitrobustError
from bitrobust.metrics.importance import (
    NeuronImportance,
    importance_from_counts,
    importance_variance,
    neuron_importance,
    neuron_importance_naive,
)
from bitrobust.models.bnn import build_bnn
from bitrobust.nn.binary import binarize, binary_layers, set_flip
from bitrobust.nn.flip import FlipSettings


@pytest.mark.parametrize("net", ["trained_fc", "trained_cnn"])
def test_fast_equals_naive_on_trained_nets(net, mnist_small, request):
    model = request.getfixturevalue(net)
    _, _, xte, yte = mnist_small
    x, y = xte[:300], yte[:300]
    naive = neuron_importance_naive(model, x, y)
    assert naive.shape == (model.num_hidden_neurons(),) and naive.dtype == torch.float64
    assert bool((naive != 0).any())
    assert torch.equal(neuron_importance(model, x, y), naive)
    assert torch.equal(neuron_importance(model, x, y, batch_neurons=5, batch_size=70), naive)
    assert not model.training


def _random_net(arch: str, seed: int, x: torch.Tensor):
    """A net with calibrated BN statistics and random BN affine, gamma < 0 and gamma == 0 included."""
    g = torch.Generator().manual_seed(seed)
    model = build_bnn(arch, seed=seed).train()
    with torch.no_grad():
        model(x)
        for block in model.blocks:
            block.bn.weight.copy_(torch.randn(block.bn.weight.shape, generator=g))
            block.bn.weight[0] = 0.0
            block.bn.bias.copy_(torch.randn(block.bn.bias.shape, generator=g) * 0.5)
    return model.eval()


@pytest.mark.parametrize(
    "arch",
    [
        "FC16-FC16-FC12-10",  # FC -> hidden FC shortcut into another hidden layer
        "C4-C4-MP2-FC8-10",  # conv -> conv without pooling, then pooling
        "C4-FC8-FC8-10",  # conv without pooling -> flatten -> FC
        "C3-MP2-C4-MP3-FC6-10",  # pool sizes 2 and 3 (floor)
    ],
)
def test_fast_equals_naive_on_varied_architectures(arch, mnist_small):
    xtr, ytr, xte, _ = mnist_small
    model = _random_net(arch, 0, xtr[:200])
    x = xte[:120]
    with torch.no_grad():
        pred = model(x).argmax(1)
    y = torch.where(torch.arange(120) % 3 == 0, (pred + 1) % 10, pred)  # accuracy 2/3
    naive = neuron_importance_naive(model, x, y, batch_size=50)
    assert torch.equal(neuron_importance(model, x, y, batch_neurons=3, batch_size=50), naive)
    assert torch.equal(neuron_importance(model, x, y), naive)


def test_fast_equals_naive_with_faulty_weights(trained_fc, mnist_small):
    model = copy.deepcopy(trained_fc)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # 5 % of the binary weights flipped, as by bit errors in the 1-bit memory
        for _, layer in binary_layers(model):
            flip = torch.rand(layer.weight.shape, generator=g) < 0.05
            layer.weight.copy_(torch.where(flip, -binarize(layer.weight), binarize(layer.weight)))
    x, y = mnist_small[2][:200], mnist_small[3][:200]
    assert torch.equal(neuron_importance(model, x, y), neuron_importance_naive(model, x, y))


def test_variance_and_counts():
    assert importance_variance(torch.tensor([0.0, 1.0])) == 0.25  # population variance, Eq. 6
    assert importance_variance(torch.tensor([0.3])) == 0.0
    pi = importance_from_counts(80, torch.tensor([80, 60, 90]))
    assert pi.tolist() == [0.0, 0.25, -0.125]  # (A - A*) / A, negative when negation helps
    with pytest.raises(BitrobustError, match="A is 0"):
        importance_from_counts(0, torch.tensor([0]))
    with pytest.raises(BitrobustError):
        importance_variance(torch.tensor([]))


def test_metric_object(trained_cnn, mnist_small):
    x, y = mnist_small[2][:100], mnist_small[3][:100]
    fast = NeuronImportance().measure(trained_cnn, x, y)
    naive = NeuronImportance(naive=True).measure(trained_cnn, x, y)
    assert torch.equal(fast.pi, naive.pi) and fast.variance == naive.variance
    assert fast.widths == (6, 6, 24) and [len(p) for p in fast.per_layer()] == [6, 6, 24]
    assert fast.variance == importance_variance(fast.pi)


def test_errors(trained_fc, mnist_small):
    x, y = mnist_small[2][:10], mnist_small[3][:10]
    with pytest.raises(BitrobustError, match="labels"):
        neuron_importance(trained_fc, x, y[:5])
    with pytest.raises(BitrobustError, match="BNN"):
        neuron_importance(torch.nn.Linear(2, 2), x, y)
    with pytest.raises(BitrobustError, match="hidden layer"):
        neuron_importance(build_bnn("10"), x, y)
    with pytest.raises(BitrobustError, match=">= 1"):
        neuron_importance(trained_fc, x, y, batch_neurons=0)
    model = copy.deepcopy(trained_fc)
    set_flip(model, FlipSettings(0.1, training_only=False))
    with pytest.raises(BitrobustError, match="transient"):
        neuron_importance_naive(model, x, y)
    wrong = (trained_fc(x).argmax(1) + 1) % 10
    with pytest.raises(BitrobustError, match="A is 0"):
        neuron_importance(trained_fc, x, wrong)


def test_naive_subset_of_neurons(trained_fc, mnist_small):
    x, y = mnist_small[2][:100], mnist_small[3][:100]
    full = neuron_importance_naive(trained_fc, x, y)
    assert torch.equal(neuron_importance_naive(trained_fc, x, y, neurons=[40, 3]), full[[40, 3]])
    with pytest.raises(BitrobustError, match="neuron indices"):
        neuron_importance_naive(trained_fc, x, y, neurons=[64])


def test_shortcut_and_dense_paths_agree(mnist_small):
    """A tiny max_elements forces the dense recomputation instead of the FC -> FC shortcut."""
    xtr, _, xte, yte = mnist_small
    model = _random_net("FC12-FC10-FC8-10", 1, xtr[:200])
    x = xte[:90]
    with torch.no_grad():
        y = torch.where(torch.arange(90) % 4 == 0, yte[:90], model(x).argmax(1))
    shortcut = neuron_importance(model, x, y)
    dense = neuron_importance(model, x, y, batch_size=30, max_elements=200)
    assert torch.equal(shortcut, dense)
    assert torch.equal(shortcut, neuron_importance_naive(model, x, y))
