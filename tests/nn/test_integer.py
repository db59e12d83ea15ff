"""Integer inference: folded BN thresholds agree bit-exactly with the float simulation."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import build_bnn
from bitrobust.nn.binary import FoldableBatchNorm1d, binarize
from bitrobust.nn.flip import binary_weight_codes, set_binary_weights
from bitrobust.nn.integer import IntegerBNN, fold_batchnorm, int_conv2d, integer_predict

_gammas = st.one_of(
    st.just(0.0),
    st.just(-0.0),
    st.floats(-1e-30, 1e-30),
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from([1.0, -1.0, 1e-8, -1e-8, 1e6]),
)


@settings(max_examples=150, deadline=None)
@given(
    bound=st.integers(1, 2000),
    gamma=_gammas,
    beta=st.one_of(st.just(0.0), st.floats(-100, 100)),
    mean=st.one_of(st.integers(-2100, 2100).map(float), st.floats(-2100, 2100)),
    var=st.floats(1e-6, 1e7),
    eps=st.sampled_from([1e-5, 1e-3, 0.0]),
)
def test_fold_matches_float_batchnorm_sign_everywhere(bound, gamma, beta, mean, var, eps):
    """For every integer h in range: output of the threshold == b(BN(h)), ties and gamma <= 0 included."""
    assume(var + eps > 0)
    bn = FoldableBatchNorm1d(3, eps=eps)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([gamma, -gamma, 1.0]))
        bn.bias.copy_(torch.tensor([beta, beta, 0.0]))
        bn.running_mean.copy_(torch.tensor([mean, mean, round(mean)]))  # channel 2: tau exactly an integer
        bn.running_var.fill_(var)
    bn.eval()
    th = fold_batchnorm(bn, bound)
    h = torch.arange(-bound - 3, bound + 4).unsqueeze(1).expand(-1, 3).contiguous()
    expected = binarize(bn(h.float())).to(torch.int64)
    inside = h.abs() <= bound
    assert torch.equal(th.apply(h)[inside], expected[inside])
    assert torch.equal(th.direction == -1, bn.eval_scale() < 0)  # gamma < 0: comparison flips
    constant = bn.eval_scale() == 0
    assert bool((th.s[constant].abs() == 2**62).all())  # gamma == 0: threshold out of reach


def test_unreachable_thresholds_keep_the_bn_threshold():
    bn = FoldableBatchNorm1d(4).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([5000.5, -5000.5, 5000.5, 0.0]))
        bn.weight.copy_(torch.tensor([1.0, 1.0, -1.0, 0.0]))
        bn.bias.zero_()
    th = fold_batchnorm(bn, 100)
    # +1 iff h > 5000.5 (s = 5000); h > -5000.5 (s = -5001); h < 5000.5 (h <= 5000); constant -1
    assert th.s.tolist() == [5000, -5001, 5000, 2**62]
    assert th.direction.tolist() == [1, 1, -1, 1]


def test_int_conv_matches_float_conv():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-255, 256, (3, 4, 9, 7), generator=g)
    w = torch.randint(0, 2, (5, 4, 3, 3), generator=g) * 2 - 1
    for padding in (0, 1):
        ref = F.conv2d(x.double(), w.double(), padding=padding).to(torch.int64)
        assert torch.equal(int_conv2d(x, w, padding), ref)


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


def test_override_weights_are_used(trained_fc, mnist_small):
    model = copy.deepcopy(trained_fc)
    codes = binary_weight_codes(model)
    g = torch.Generator().manual_seed(0)
    flipped = [c ^ (torch.rand(c.shape, generator=g) < 0.2).to(torch.uint8) for c in codes]
    set_binary_weights(model, flipped)
    _assert_exact(model, mnist_small[2][:300])
    assert torch.equal(IntegerBNN(model).weights[0].reshape(-1), flipped[0].to(torch.int64) * 2 - 1)


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
