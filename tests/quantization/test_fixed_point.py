import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.quantization import (
    SCHEMES,
    FixedPointQuantizer,
    QuantScheme,
    fake_quantize_tensors,
    quantize_model,
)
from bitrobust.quantization.fixed_point import levels, step

ALL_SCHEMES = [
    QuantScheme(range=r, symmetric=s, signed=g, rounding=o)
    for r in ("global", "per_tensor")
    for s in (True, False)
    for g in (True, False)
    for o in ("round", "trunc")
]

weights = st.lists(
    st.floats(min_value=-10, max_value=10, allow_nan=False, allow_subnormal=False), min_size=1, max_size=64
).map(lambda xs: torch.tensor(xs, dtype=torch.float32))


def real_step(q: FixedPointQuantizer, qrange) -> float:
    """D in weight units: the normalized step times the half-width of the range."""
    half = qrange[1] if q.scheme.symmetric else (qrange[1] - qrange[0]) / 2
    return step(q.bits) * half


@settings(max_examples=300, deadline=None)
@given(w=weights, bits=st.integers(1, 8), scheme=st.sampled_from(ALL_SCHEMES))
def test_roundtrip_error_bound(w, bits, scheme):
    q = FixedPointQuantizer(bits, scheme)
    qt = q.quantize(w)
    assert qt.codes.dtype == torch.uint8
    assert int(qt.codes.max()) < 2**bits
    d = real_step(q, qt.qrange)
    bound = d / 2 if (scheme.rounding == "round" or bits == 1) else d
    err = (q.dequantize(qt) - w).abs().max().item()
    tol = 1e-5 * max(1.0, abs(qt.qrange[0]), abs(qt.qrange[1]))
    assert err <= bound + tol


@settings(max_examples=200, deadline=None)
@given(
    c=st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_subnormal=False),
    n=st.integers(1, 20),
    bits=st.integers(1, 8),
    scheme=st.sampled_from(ALL_SCHEMES),
)
def test_constant_tensor_is_exact(c, n, bits, scheme):
    w = torch.full((n,), c, dtype=torch.float32)
    out = FixedPointQuantizer(bits, scheme).quantize(w).dequantize()
    assert not torch.isnan(out).any()
    assert torch.equal(out, w)


def test_normal_hand_computed():
    # m = 3: L = 3, q = 1, D = 1/3; w/D = [-3, -1.5, 0.6, 2.1, 3] -> trunc [-3, -1, 0, 2, 3]
    q = FixedPointQuantizer(3, "normal")
    w = torch.tensor([-1.0, -0.5, 0.2, 0.7, 1.0])
    qt = q.quantize(w)
    assert qt.codes.tolist() == [5, 7, 0, 2, 3]  # two's complement on 3 bits
    assert torch.allclose(qt.dequantize(), torch.tensor([-1.0, -1 / 3, 0.0, 2 / 3, 1.0]))


def test_rquant_hand_computed():
    # m = 3, range [0, 2]: N(w) = w - 1; N/D = 3 N = [-3, -2.25, -1.5, 0, 3]
    # round half to even -> [-3, -2, -2, 0, 3]; unsigned words add 3
    q = FixedPointQuantizer(3, "rquant")
    w = torch.tensor([0.0, 0.25, 0.5, 1.0, 2.0])
    qt = q.quantize(w)
    assert qt.qrange == (0.0, 2.0)
    assert qt.codes.tolist() == [0, 1, 1, 3, 6]
    assert torch.allclose(qt.dequantize(), torch.tensor([0.0, 1 / 3, 1 / 3, 1.0, 2.0]))


def test_asymmetric_signed_trunc_hand_computed():
    # m = 4, L = 7, range [-1, 3]: N = (w + 1)/2 - 1; 7 N for w = [0, 1, 2.5] = [-3.5, 0, 5.25]
    q = FixedPointQuantizer(4, "asymmetric")
    w = torch.tensor([-1.0, 0.0, 1.0, 2.5, 3.0])
    qt = q.quantize(w)
    assert qt.codes.tolist() == [(-7) & 15, (-3) & 15, 0, 5, 7]


def test_flipped_words_decode_outside_the_clamp_range():
    q = FixedPointQuantizer(4, "normal")
    qt = q.quantize(torch.tensor([-1.0, 1.0]))
    flipped = qt.with_codes(torch.tensor([8, 7], dtype=torch.uint8))  # 0b1000 = -8
    assert flipped.dequantize()[0].item() == pytest.approx(-8 / 7)
    u = FixedPointQuantizer(4, "rquant").quantize(torch.tensor([-1.0, 1.0]))
    assert u.with_codes(torch.tensor([15, 0], dtype=torch.uint8)).dequantize().tolist() == pytest.approx([8 / 7, -1.0])


def test_one_bit_stores_the_sign():
    q = FixedPointQuantizer(1, "normal")
    qt = q.quantize(torch.tensor([-0.3, 0.0, 0.1, 0.5]))
    assert qt.codes.tolist() == [0, 0, 1, 1]
    assert qt.dequantize().tolist() == pytest.approx([-0.5, -0.5, 0.5, 0.5])


def test_presets():
    assert SCHEMES.get("normal") == QuantScheme("per_tensor", True, True, "trunc")
    assert SCHEMES.get("rquant") == QuantScheme("per_tensor", False, False, "round")
    assert FixedPointQuantizer(8).scheme == SCHEMES.get("rquant")
    assert FixedPointQuantizer(8, "rquant", rounding="trunc").scheme.rounding == "trunc"
    assert levels(8) == 127


@pytest.mark.parametrize("bits", [0, 9, -1, 2.5, True])
def test_bad_bits(bits):
    with pytest.raises(BitrobustError, match="bits"):
        FixedPointQuantizer(bits)


def test_unknown_scheme_lists_valid_ones():
    with pytest.raises(BitrobustError, match="rquant"):
        FixedPointQuantizer(8, "fancy")
    with pytest.raises(BitrobustError, match="round, trunc"):
        FixedPointQuantizer(8, "rquant", rounding="floor")


def test_fake_quantize_straight_through():
    w = torch.randn(10, generator=torch.Generator().manual_seed(0)).requires_grad_()
    out = FixedPointQuantizer(4).fake_quantize(w)
    out.sum().backward()
    assert torch.equal(w.grad, torch.ones(10))
    # w + (Q^-1(Q(w)) - w) equals Q^-1(Q(w)) up to float rounding
    assert torch.allclose(out.detach(), FixedPointQuantizer(4).quantize(w).dequantize(), rtol=0, atol=1e-6)


class Odd(nn.Module):
    """Layers the toolkit has no special case for, plus an integer buffer."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 4)
        self.conv = nn.Conv1d(4, 4, 3, groups=4)
        self.norm = nn.LayerNorm(4)
        self.register_buffer("steps", torch.tensor(3))
        self.register_buffer("stat", torch.ones(4))


def test_model_quantization_covers_every_float_parameter():
    model = Odd()
    state = quantize_model(model, FixedPointQuantizer(8))
    assert list(state.tensors) == [n for n, _ in model.named_parameters()]
    assert state.num_words == sum(p.numel() for p in model.parameters())
    with_buffers = quantize_model(model, FixedPointQuantizer(8), include_buffers=True)
    assert "stat" in with_buffers.tensors and "steps" not in with_buffers.tensors
    excluded = quantize_model(model, FixedPointQuantizer(8), exclude=["norm.*"])
    assert not any(n.startswith("norm.") for n in excluded.tensors)
    offsets = state.word_offsets
    assert offsets["emb.weight"] == 0 and offsets["conv.weight"] == 44
    assert torch.equal(state.with_flat_codes(state.flat_codes()).flat_codes(), state.flat_codes())


def test_global_range_is_shared():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    with torch.no_grad():
        model[1].weight.mul_(10)
    state = quantize_model(model, FixedPointQuantizer(8, "global"))
    ranges = {qt.qrange for qt in state.tensors.values()}
    assert len(ranges) == 1
    q = max(p.abs().max().item() for p in model.parameters())
    assert next(iter(ranges)) == pytest.approx((-q, q))
    fq = fake_quantize_tensors(dict(model.named_parameters()), FixedPointQuantizer(8, "global"))
    deq = state.dequantize()
    assert all(torch.allclose(fq[n].detach(), deq[n], rtol=0, atol=1e-6) for n in deq)
    assert math.isclose(state.tensors["0.bias"].qrange[1], q, rel_tol=1e-6)
