"""BNN builder from the papers' notation (paper 1, Table II/III)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import (
    BNN_ARCHS,
    BNN_FACTORIES,
    LayerSpec,
    build_bnn,
    format_arch,
    parse_arch,
    table3_arch,
)
from bitrobust.nn.binary import (
    BinaryConv2d,
    BinaryLinear,
    FoldableBatchNorm1d,
    FoldableBatchNorm2d,
    SignActivation,
    binary_layers,
)
from bitrobust.nn.flip import FlipSettings


def test_parse_table2_architectures():
    assert parse_arch("FC2048-FC2048-10") == (LayerSpec("fc", 2048), LayerSpec("fc", 2048), LayerSpec("out", 10))
    assert parse_arch("C64-MP2-C64-MP2-FC2048-10") == (
        LayerSpec("conv", 64, 2),
        LayerSpec("conv", 64, 2),
        LayerSpec("fc", 2048),
        LayerSpec("out", 10),
    )
    cifar = parse_arch(BNN_ARCHS["bnn_cifar"])
    assert [s.kind for s in cifar] == ["conv"] * 6 + ["fc", "out"]
    assert [s.pool for s in cifar[:6]] == [1, 2, 1, 2, 1, 2]
    for arch in BNN_ARCHS.values():
        assert format_arch(parse_arch(arch)) == arch


def test_parse_paper_table_notation():
    assert format_arch(parse_arch("In → C64 → MP 2 → C64 → MP 2 → FC2048 → 10")) == "C64-MP2-C64-MP2-FC2048-10"
    assert format_arch(parse_arch("in -> fc 2048 -> FC 2048 -> 10")) == "FC2048-FC2048-10"


@pytest.mark.parametrize(
    "arch, why",
    [
        ("", "empty"),
        ("FC2048-FC2048", "must end with the number of classes"),
        ("MP2-C64-10", "must directly follow a convolution"),
        ("FC64-MP2-10", "must directly follow a convolution"),
        ("C64-MP2-MP2-10", "must directly follow a convolution"),
        ("FC64-C64-10", "cannot follow a fully connected"),
        ("FC64-10-10", "only allowed last"),
        ("FC0-10", "positive"),
        ("C4-MP1-10", "pool size"),
        ("X64-10", "unknown token"),
        ("FC64--10", "unknown token"),
    ],
)
def test_bad_strings_explain_the_grammar(arch, why):
    with pytest.raises(BitrobustError) as info:
        parse_arch(arch)
    message = str(info.value)
    assert why in message and "grammar" in message and "\n" not in message


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="CFMP0123456789-> In→", max_size=20))
def test_any_string_parses_or_raises_bitrobust_error(text):
    try:
        specs = parse_arch(text)
    except BitrobustError:
        return
    assert specs[-1].kind == "out" and all(s.kind != "out" for s in specs[:-1])
    assert parse_arch(format_arch(specs)) == specs


def test_structure_bn_after_every_layer_and_shapes():
    model = build_bnn("C64-MP2-C64-MP2-FC2048-10", seed=0)
    assert [type(b.layer) for b in model.blocks] == [BinaryConv2d, BinaryConv2d, BinaryLinear, BinaryLinear]
    assert [type(b.bn) for b in model.blocks] == [FoldableBatchNorm2d, FoldableBatchNorm2d, FoldableBatchNorm1d, FoldableBatchNorm1d]
    assert all(isinstance(b.act, SignActivation) for b in model.blocks[:-1]) and model.blocks[-1].act is None
    assert model.blocks[0].layer.weight.shape == (64, 1, 3, 3)  # 3x3 kernels, padding 1
    assert model.blocks[2].layer.weight.shape == (2048, 64 * 7 * 7)
    assert model.blocks[0].layer.first and not model.blocks[1].layer.first
    assert all(layer.bias is None for _, layer in binary_layers(model))
    assert model.hidden_widths() == [64, 64, 2048] and model.num_hidden_neurons() == 2176
    out = model.eval()(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    assert out.shape == (2, 10)


def test_cifar_net_and_table3_archs():
    model = build_bnn(BNN_ARCHS["bnn_cifar"], in_shape=(3, 32, 32), seed=0)
    assert model.blocks[6].layer.weight.shape == (2048, 256 * 4 * 4)
    assert table3_arch("fc", 8) == "FC8-FC8-10"
    assert table3_arch("cnn", 64) == "C64-MP2-C64-MP2-FC128-10"
    small = build_bnn(table3_arch("cnn", 8), seed=0)
    assert small.hidden_widths() == [8, 8, 16]
    with pytest.raises(BitrobustError):
        table3_arch("rnn", 8)


def test_build_options_and_errors():
    with pytest.raises(BitrobustError, match="num_classes"):
        build_bnn("FC8-10", num_classes=100)
    assert build_bnn("FC8-100", num_classes=100).num_classes == 100
    with pytest.raises(BitrobustError, match="shrinks"):
        build_bnn("C4-MP2-C4-MP2-C4-MP2-10", in_shape=(1, 4, 4))
    with pytest.raises(BitrobustError, match="straight-through"):
        build_bnn("FC8-10", ste="tanh")
    with pytest.raises(BitrobustError, match="expects inputs"):
        build_bnn("C4-10")(torch.zeros(2, 784))
    fc = build_bnn("FC8-10", flip=0.1)
    assert all(layer.flip == FlipSettings(0.1) for _, layer in binary_layers(fc))
    assert fc.eval()(torch.zeros(3, 784)).shape == (3, 10)  # FC nets also take flat inputs


def test_seed_is_deterministic_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b = build_bnn("C4-MP2-FC8-10", seed=3), build_bnn("C4-MP2-FC8-10", seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    c = build_bnn("C4-MP2-FC8-10", seed=4)
    assert not torch.equal(a.blocks[0].layer.weight, c.blocks[0].layer.weight)


def test_factories_follow_build_model_convention():
    gen = torch.Generator().manual_seed(0)
    model = BNN_FACTORIES["bnn_fc"](num_classes=10, width=1 / 64, generator=gen)
    assert model.arch == "FC32-FC32-10"
    cifar = BNN_FACTORIES["bnn_cifar"](num_classes=100, width=1 / 32)
    assert cifar.arch == "C4-C4-MP2-C8-C8-MP2-C8-C8-MP2-FC64-100" and cifar.in_shape == (3, 32, 32)
    assert set(BNN_FACTORIES) == set(BNN_ARCHS)


def test_trace_matches_forward():
    model = build_bnn("C4-MP2-FC8-10", seed=0)
    x = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    for mode in (True, False):
        model.train(mode)
        trace = model.trace(x)
        torch.testing.assert_close(trace.logits, model(x), rtol=0, atol=0)
        assert [tuple(h.shape) for h in trace.preacts] == [(5, 4, 14, 14), (5, 8)]


def test_block_steps_make_the_forward_pass_and_keep_checkpoint_keys():
    model = build_bnn("C4-MP3-C5-FC8-10", seed=0).eval()
    x = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    a = model.prepare_input(x)
    for block in model.blocks:
        h = block.pool(block.linear_part(a))
        a = block.bn(h) if block.act is None else block.act(block.bn(h))
    assert torch.equal(a, model(x))
    assert [b.pool_size for b in model.blocks] == [3, 1, 1, 1]
    assert [b.preactivation_bound(255) for b in model.blocks] == [9 * 255, 36, 5 * 9 * 9, 8]
    keys = [f"blocks.{i}.{k}" for i in range(4) for k in (
        "layer.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked")]
    assert list(model.state_dict()) == keys  # checkpoint names
