"""T metric (paper 1, Sec. III): local tolerance, T^b, T-bar, and Theorem 1 as a property."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.errors import BitrobustError
from bitrobust.metrics.tolerance import (
    DEFAULT_BS,
    ToleranceMetric,
    local_tolerance,
    t_bar,
    tolerance,
    tolerance_per_input,
)
from bitrobust.models.bnn import build_bnn
from bitrobust.models.bnn_integer import IntegerBNN
from bitrobust.nn.integer import Threshold


@pytest.fixture(scope="module")
def nets(trained_fc, trained_cnn):
    negated = copy.deepcopy(trained_cnn)
    with torch.no_grad():
        for block in negated.hidden_blocks:  # gamma < 0 on every other neuron: comparisons flip
            block.bn.weight[::2] = -block.bn.weight[::2].abs()
            block.bn.bias[::2] = -block.bn.bias[::2]
    return {"fc": trained_fc, "cnn": trained_cnn, "cnn_negative_gamma": negated}


def _flipped_outputs(net: IntegerBNN, layer: int, a: torch.Tensor, neuron: int, flip_sets: torch.Tensor) -> torch.Tensor:
    """Outputs of ``neuron`` with each row of ``flip_sets`` (weight indices) negated: (B, trials, ...)."""
    w = net.weights[layer][neuron].reshape(-1)
    trials = w.repeat(len(flip_sets), 1)
    trials.scatter_(1, flip_sets, -trials.gather(1, flip_sets))
    weight = trials.view(len(flip_sets), *net.weights[layer].shape[1:])
    h = net.preactivation(layer, a, weight=weight)
    th = net.thresholds[layer]
    single = Threshold(th.s[neuron].repeat(len(flip_sets)), th.direction[neuron].repeat(len(flip_sets)))
    return single.apply(h)


@settings(max_examples=40, deadline=None)
@given(
    which=st.sampled_from(["fc", "cnn", "cnn_negative_gamma"]),
    layer_pick=st.integers(0, 2),
    b=st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16]),
    seed=st.integers(0, 2**31 - 1),
)
def test_theorem1_random_flips_never_change_tolerant_outputs(nets, mnist_small, which, layer_pick, b, seed):
    """T >= b at (i, n, u, v)  =>  any floor(b/2) weight flips of n keep its output at (u, v).

    Checked position-wise (so also "for all u, v"), after max pooling, with gamma < 0,
    and in layer 1 with T divided by Z.
    """
    model = nets[which]
    net = IntegerBNN(model)
    layer = layer_pick % net.num_hidden
    gen = torch.Generator().manual_seed(seed)
    x = mnist_small[2][torch.randint(0, 1000, (12,), generator=gen)]
    trace = net.run(x)
    t = local_tolerance(model, x, net)[layer]
    tolerant = t >= b
    candidates = tolerant.reshape(len(x), t.shape[1], -1).any(2).any(0).nonzero().flatten()
    pool = candidates if len(candidates) else torch.arange(t.shape[1])
    neurons = pool[torch.randperm(len(pool), generator=gen)[:3]]
    flips = b // 2
    fan_in = net.fan_in(layer)
    for n in neurons.tolist():
        sets = torch.rand(64, fan_in, generator=gen).argsort(1)[:, :flips]
        out = _flipped_outputs(net, layer, trace.inputs[layer], n, sets)
        clean = trace.outputs[layer][:, n].unsqueeze(1)
        changed = out != clean
        assert not bool((changed & tolerant[:, n].unsqueeze(1)).any())


def _adversarial_flip_set(net: IntegerBNN, layer: int, a_row: torch.Tensor, neuron: int, h: int, count: int):
    """The ``count`` weights whose flip moves h furthest towards the threshold (FC layers)."""
    th = net.thresholds[layer]
    side = 1 if h - int(th.s[neuron]) - 0.5 > 0 else -1
    contribution = a_row * net.weights[layer][neuron] * side  # > 0: pushes away from the boundary
    order = contribution.argsort(descending=True)
    return order[:count]


def test_theorem1_is_tight_and_needs_the_division_by_z(trained_fc, mnist_small):
    """Below b, some floor(b/2) flips do switch a neuron; in layer 1, |h - s - 1/2| >= b is not enough."""
    net = IntegerBNN(trained_fc)
    x = mnist_small[2][:50]
    trace = net.run(x)
    tol = local_tolerance(trained_fc, x, net)
    found_tight, found_z = False, False
    b = 4
    for layer in (0, 1):
        for i in range(len(x)):
            for n in range(tol[layer].shape[1]):
                t = float(tol[layer][i, n])
                h = int(trace.preacts[layer][i, n])
                raw = t * (net.input_max if layer == 0 else 1)
                need_check = (t < b) if layer == 1 else (raw >= b and t < b)
                if not need_check or (found_tight and layer == 1) or (found_z and layer == 0):
                    continue
                a = trace.inputs[layer][i].reshape(-1)
                flip_set = _adversarial_flip_set(net, layer, a, n, h, b // 2).unsqueeze(0)
                out = _flipped_outputs(net, layer, trace.inputs[layer][i : i + 1], n, flip_set)
                if int(out[0, 0]) != int(trace.outputs[layer][i, n]):
                    if layer == 1:
                        found_tight = True
                    else:
                        found_z = True
    assert found_tight, "no neuron with T < b could be switched by floor(b/2) flips"
    assert found_z, "undivided first-layer margins >= b were never broken by floor(b/2) flips"


@settings(max_examples=60, deadline=None)
@given(
    fan_in=st.integers(1, 40),
    s=st.integers(-45, 45),
    direction=st.sampled_from([1, -1]),
    b=st.floats(0, 50),
    seed=st.integers(0, 2**31 - 1),
)
def test_theorem1_on_random_binary_neurons(fan_in, s, direction, b, seed):
    """Pure form of the proof: +-1 inputs and weights, any integer threshold, real b >= 0."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 2, (30, fan_in), generator=gen) * 2 - 1
    w = torch.randint(0, 2, (fan_in,), generator=gen) * 2 - 1
    th = Threshold(torch.tensor([s]), torch.tensor([direction]))
    h = (a * w).sum(1, keepdim=True)
    t = th.margin(h)
    flips = min(fan_in, math.floor(b / 2))
    sets = torch.rand(40, fan_in, generator=gen).argsort(1)[:, :flips]
    signs = torch.ones(40, fan_in, dtype=torch.int64).scatter_(1, sets, -1)
    h_flipped = a @ (signs * w).t()  # (30, 40)
    changed = th.apply(h_flipped.unsqueeze(2)).squeeze(2) != th.apply(h)
    assert not bool((changed & (t >= b)).any())


def test_golden_tiny_network():
    model = build_bnn("FC1-2", in_shape=(1, 1, 3), input_max=1, seed=0).eval()
    with torch.no_grad():
        model.blocks[0].layer.weight.fill_(0.5)  # B(W) = (+1, +1, +1)
        bn = model.blocks[0].bn
        bn.running_mean.zero_(), bn.running_var.fill_(1.0), bn.weight.fill_(1.0), bn.bias.zero_()
    x = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.uint8).view(2, 1, 1, 3)
    t = local_tolerance(model, x)[0]
    assert t.flatten().tolist() == [2.5, 0.5]  # |h - s - 1/2| / Z with h = 3, 1; s = 0; Z = 1
    assert tolerance(model, x, bs=(0.5, 2, 4)) == (1.0, 0.5, 0.0)


def test_tb_is_nested_mean_and_batch_invariant(trained_cnn, mnist_small):
    x = mnist_small[2][:40]
    values = tolerance(trained_cnn, x)
    assert len(values) == len(DEFAULT_BS)
    assert all(0 <= v <= 1 for v in values) and list(values) == sorted(values, reverse=True)
    t = local_tolerance(trained_cnn, x)
    assert [tuple(v.shape) for v in t] == [(40, 6, 14, 14), (40, 6, 7, 7), (40, 24)]
    manual = []
    for b in DEFAULT_BS:
        per_neuron = torch.cat([(v >= b).double().flatten(2).mean(2) if v.dim() > 2 else (v >= b).double() for v in t], 1)
        manual.append(float(per_neuron.mean()))  # Eq. 3, then 4 and 5
    assert values == pytest.approx(manual, abs=1e-12)
    assert tolerance(trained_cnn, x, batch_size=7) == pytest.approx(values, abs=1e-12)
    per_input = tolerance_per_input(t)
    assert per_input.shape == (40, 6)


def test_metric_object_and_t_bar(trained_fc, mnist_small):
    x = mnist_small[2][:100]
    result = ToleranceMetric(bs=(2, 8)).measure(trained_fc, x)
    assert result.values == tolerance(trained_fc, x, bs=(2, 8))
    assert result.mean == t_bar(result.values) == pytest.approx(sum(result.values) / 2)
    assert set(result.as_dict()) == {"T^2", "T^8", "T_bar"}
    assert 0 < result.values[0] < 1


def test_errors(trained_fc, mnist_small):
    x = mnist_small[2][:5]
    with pytest.raises(BitrobustError, match="integer inputs"):
        tolerance(trained_fc, x.float() / 255)
    with pytest.raises(BitrobustError, match="b must"):
        ToleranceMetric(bs=())
    with pytest.raises(BitrobustError, match="b must"):
        tolerance(trained_fc, x, bs=(-1,))
    with pytest.raises(BitrobustError, match="at least one input"):
        tolerance(trained_fc, x[:0])
    with pytest.raises(BitrobustError, match="hidden layer"):
        tolerance(build_bnn("10").eval(), x)
    with pytest.raises(BitrobustError):
        t_bar(())
