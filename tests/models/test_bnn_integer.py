"""Integer form of a BNN: integer inference agrees bit-exactly with the float simulation."""

from __future__ import annotations

import copy

import pytest
import torch

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import build_bnn
from bitrobust.models.bnn_integer import IntegerBNN, integer_predict
from bitrobust.nn.binary import binarize, binary_layers


def _float_hidden_outputs(model, x):
    outs = []
    handles = [b.act.register_forward_hook(lambda m, i, o: outs.append(o)) for b in model.hidden_blocks]
    with torch.no_grad():
        logits = model(x)
    for h in handles:
        h.remove()
    return logits, outs


def _assert_exact(model, x):
    logits, float_outs = _float_hidden_outputs(model, x)
    trace = IntegerBNN(model).run(x)
    for h in trace.preacts:
        assert h.dtype == torch.int64
    for a_int, a_float in zip(trace.outputs, float_outs):
        assert torch.equal(a_int, a_float.to(torch.int64))  # every hidden bit agrees
    assert torch.equal(trace.logits, logits)
    assert torch.equal(trace.logits.argmax(1), logits.argmax(1))


@pytest.mark.parametrize("net", ["trained_fc", "trained_cnn"])
def test_integer_inference_equals_float_on_mnist(net, mnist_small, request):
    model = request.getfixturevalue(net)
    _, _, xte, yte = mnist_small
    _assert_exact(model, xte)
    acc = float((integer_predict(model, xte, batch_size=300) == yte).float().mean())
    assert acc > 0.6  # a trained net, not a trivial one


@pytest.mark.parametrize("net", ["trained_fc", "trained_cnn"])
def test_negative_and_zero_gamma(net, mnist_small, request):
    model = copy.deepcopy(request.getfixturevalue(net))
    with torch.no_grad():
        for block in model.hidden_blocks:
            gamma = block.bn.weight
            gamma[1::2] = -gamma[1::2].abs()  # comparison direction flips
            gamma[0] = 0.0  # constant neuron: output b(beta)
            block.bn.bias[0] = 0.0 if block.layer.first else 0.3
    net_int = IntegerBNN(model)
    assert all(bool((t.direction < 0).any()) for t in net_int.thresholds)
    _assert_exact(model, mnist_small[2][:500])
    first = net_int.thresholds[0]
    assert int(first.s[0]) > net_int.bounds[0] and int(first.direction[0]) == 1  # always -1


def test_faulty_binary_weights_are_used(trained_fc, mnist_small):
    """Weights with flipped signs (as after bit errors in the 1-bit memory): still exact, and used."""
    model = copy.deepcopy(trained_fc)
    g = torch.Generator().manual_seed(0)
    expected = []
    with torch.no_grad():
        for _, layer in binary_layers(model):
            flip = torch.rand(layer.weight.shape, generator=g) < 0.2
            signs = torch.where(flip, -binarize(layer.weight), binarize(layer.weight))
            layer.weight.copy_(signs)
            expected.append(signs.to(torch.int64))
    _assert_exact(model, mnist_small[2][:300])
    assert all(torch.equal(w, e) for w, e in zip(IntegerBNN(model).weights, expected))


@pytest.mark.parametrize("net", ["trained_fc", "trained_cnn"])
def test_float_form_equals_int64_form(net, mnist_small, request):
    """Integer-valued float32 arithmetic (used by Pi) gives the very same pass as int64."""
    model = request.getfixturevalue(net)
    x = mnist_small[2][:200]
    exact, fast = IntegerBNN(model), IntegerBNN(model, dtype=torch.float32)
    a, b = exact.run(x), fast.run(x)
    assert all(p.dtype == torch.float32 for p in b.preacts + b.outputs)
    for u, v in zip(a.preacts + a.outputs, b.preacts + b.outputs):
        assert torch.equal(u, v.to(torch.int64))
    assert torch.equal(a.logits, b.logits) and torch.equal(exact.logits(x), a.logits)
    h = exact.preactivation(0, a.inputs[0])
    assert torch.equal(exact.logits_from(0, exact.linear_part(0, a.inputs[0])), a.logits) and torch.equal(h, a.preacts[0])


def test_inputs_must_be_integers_within_z():
    model = build_bnn("FC8-10", seed=0).eval()
    net = IntegerBNN(model)
    x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    assert torch.equal(net.predict(x), net.predict(x.float()))
    with pytest.raises(BitrobustError, match="integer inputs"):
        net.predict(x.float() / 255)
    with pytest.raises(BitrobustError, match="Z = 255"):
        net.predict(x.float() + 1)
    with pytest.raises(BitrobustError, match="shape"):
        net.predict(torch.zeros(4, 1, 27, 27))
    with pytest.raises(BitrobustError, match="BNN"):
        IntegerBNN(torch.nn.Linear(2, 2))
    # negative integers within Z are fine (the bound only needs |x| <= Z)
    signed = build_bnn("C2-MP2-FC4-10", seed=0, input_max=5).eval()
    xs = torch.randint(-5, 6, (7, 1, 28, 28)).float()
    _assert_exact(signed, xs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_integer_inference_on_gpu(trained_cnn, mnist_small):  # pragma: no cover
    model = copy.deepcopy(trained_cnn).cuda()
    x = mnist_small[2][:300].cuda()
    torch.backends.cudnn.allow_tf32 = False
    assert torch.equal(IntegerBNN(model).predict(x), model(x).argmax(1))


def test_hidden_preactivations_are_popcounts(trained_fc, mnist_small):
    """h = 2 popcount(xnor(W, X)) - #bits for +-1 inputs and weights (paper 1, Sec. II)."""
    net = IntegerBNN(trained_fc)
    trace = net.run(mnist_small[2][:50])
    x_bits = trace.inputs[1] > 0  # (N, 32)
    w_bits = net.weights[1] > 0  # (32, 32)
    xnor = ~(x_bits.unsqueeze(1) ^ w_bits.unsqueeze(0))  # (N, out, in)
    assert torch.equal(trace.preacts[1], 2 * xnor.sum(2) - x_bits.shape[1])
