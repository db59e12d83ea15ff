"""Activation buffers in every number format of the registry that has one range per tensor (contracts 5, 7):
float words against torch's own casts and bit patterns, per-tensor fixed point against contract 1's formulas,
per-channel/group formats refused with the valid names."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bitrobust import FixedPointQuantizer, RandomBitErrors
from bitrobust.bit_errors import chip_seed
from bitrobust.errors import BitrobustError
from bitrobust.formats import decode_float, get_format
from bitrobust.injection import (
    FixedPointWords,
    FloatWords,
    activation_faults,
    activation_formats,
    calibrate_activations,
)
from bitrobust.injection.activations import ACTIVATION_CHIP_SALT
from bitrobust.injection.buffer_words import round_trip
from bitrobust.quantization import SCHEMES, dequantize_codes, quantize_codes

FLOATS = {"fp32": (torch.float32, torch.int32), "fp16": (torch.float16, torch.int16),
          "bf16": (torch.bfloat16, torch.int16), "fp8_e4m3": (torch.float8_e4m3fn, torch.uint8),
          "fp8_e5m2": (torch.float8_e5m2, torch.uint8)}


def _identity_model() -> nn.Module:
    return nn.Sequential(nn.Identity(), nn.Identity())


def _x(n=32, d=100, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * torch.exp2(torch.randint(-10, 8, (n, d), generator=g).float())


def _pattern(t: torch.Tensor, name: str) -> torch.Tensor:
    """The bit pattern of each value of ``t`` (already in the format's dtype) as int64 in [0, 2^m)."""
    dtype, view = FLOATS[name]
    return t.view(view).to(torch.int64) & ((1 << torch.finfo(dtype).bits) - 1)


def test_the_valid_names_are_the_registry_floats_and_per_tensor_fixed_point():
    names = activation_formats()
    assert set(FLOATS) <= set(names)
    assert {f"int{m}" for m in range(1, 9)} | {f"normal{m}" for m in range(1, 9)} <= set(names)
    assert not {"int8_channel", "int4_channel", "int4_g128", "int8_g128"} & set(names)


@pytest.mark.parametrize("name", FLOATS)
def test_float_buffers_store_torch_casts_saturated(name):
    dtype, _ = FLOATS[name]
    big = torch.finfo(dtype).max
    edge = torch.tensor([0.0, -0.0, big, -big, 2 * big, -2 * big, float("inf"), -float("inf")])  # float32
    x = torch.cat([_x().reshape(-1), edge])[None]
    cast = x.clamp(-big, big).to(dtype)  # contract 5: saturate, then torch's cast (round to nearest even)
    codes = FloatWords(get_format(name)).encode(x)
    assert torch.equal(codes.to(torch.int64), _pattern(cast, name))
    model = _identity_model()
    with activation_faults(model, "0", 0.0, format=name):  # p = 0: the format's round trip
        assert torch.equal(model(x), cast.float())
    assert torch.equal(model(x), x)
    saturated = _pattern(torch.tensor([big, -big] * 3, dtype=dtype), name)
    assert torch.equal(codes[0, -6:].to(torch.int64), saturated)  # the largest finite value, never inf


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("mode", ["transient", "persistent"])
def test_a_flip_of_bit_j_changes_exactly_bit_j_of_the_stored_pattern(name, mode):
    dtype, _ = FLOATS[name]
    x = _x(8, 60).clamp(-torch.finfo(dtype).max, torch.finfo(dtype).max)
    model = _identity_model()
    calib = calibrate_activations(model, [(x, None)], "0")
    stored = _pattern(x.to(dtype), name)
    for j in range(torch.finfo(dtype).bits):
        with activation_faults(model, "0", 1.0, mode, format=name, calibration=calib, target_bits=[j]):
            out = model(x)
        expected = decode_float(stored ^ (1 << j), dtype).float()  # may be inf or NaN
        torch.testing.assert_close(out, expected, rtol=0, atol=0, equal_nan=True)
        finite = ~torch.isnan(out)  # NaN payloads do not survive the cast to float32; all else is exact
        diff = _pattern(out.to(dtype), name) ^ stored
        assert torch.equal(diff[finite], torch.full_like(diff, 1 << j)[finite]), j


@pytest.mark.parametrize("name", ["fp8_e4m3", "fp8_e5m2"])
def test_fp8_buffers_saturate_instead_of_giving_nan_or_inf(name):
    dtype, _ = FLOATS[name]
    big = torch.finfo(dtype).max
    x = torch.tensor([[1e6, -1e6, float("inf"), -float("inf"), big * 1.01, 1.0, 0.3]])
    model = _identity_model()
    with activation_faults(model, "0", 0.0, format=name):
        out = model(x)
    assert out[0, :5].tolist() == [big, -big, big, -big, big]
    assert out[0, 5].item() == 1.0 and out[0, 6].item() == torch.tensor(0.3).to(dtype).item()
    assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize("name", ["int1", "int2", "int4", "normal4", "normal8"])
def test_per_tensor_fixed_point_uses_the_calibrated_range_by_the_formats_rule(name):
    model = nn.Sequential(nn.Linear(10, 30), nn.ReLU(), nn.Linear(30, 3)).eval()
    x = _x(16, 10)
    q = get_format(name)
    calib = calibrate_activations(model, [(x, None)], "0")
    qrange = q.range_of(torch.tensor(calib.range_of("0"), dtype=torch.float64))
    with activation_faults(model, "0", 0.0, format=name, calibration=calib):
        got = model(x)
    with torch.no_grad():
        h = dequantize_codes(quantize_codes(model[0](x), q.bits, q.scheme, qrange), q.bits, q.scheme, qrange)
        assert torch.equal(got, model[2](model[1](h)))


def test_per_channel_and_group_formats_are_refused_with_the_valid_names():
    model, x = _identity_model(), _x(2, 10)
    for name in ("int8_channel", "int4_g128"):
        with pytest.raises(BitrobustError, match=r"per channel or group.*valid: bf16, fp16, fp32, fp8_e4m3"):
            activation_faults(model, "0", 0.01, format=name, calibration=[(x, None)]).__enter__()
        with pytest.raises(BitrobustError, match="not an activation format"):
            activation_faults(model, "0", 0.01, format=get_format(name), calibration=[(x, None)]).__enter__()
    with pytest.raises(BitrobustError, match="unknown activation format 'fp4'; valid: .*int8.*normal8"):
        activation_faults(model, "0", 0.01, format="fp4").__enter__()
    assert all(not m._forward_hooks for m in model.modules())


# -- the fused fixed-point round trip is the words' round trip, bit for bit -------------------------------------


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.floats(-50, 50, width=32), st.floats(width=32),
                                 st.sampled_from([0.0, -0.0, -1e-30])), min_size=1, max_size=120),
       bits=st.integers(1, 8), scheme=st.sampled_from(list(SCHEMES.names())),
       dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.float64]),
       bounds=st.tuples(st.floats(-20, 20), st.floats(-20, 20)))
def test_fixed_point_round_trip_is_the_decoded_words(values, bits, scheme, dtype, bounds):
    """NaN, inf, -0 and values outside the range included; compared bit for bit (+0 vs -0 too)."""
    t = torch.tensor(values, dtype=torch.float32).to(dtype)
    q = FixedPointQuantizer(bits, scheme)
    codec = FixedPointWords(q, q.range_of(torch.tensor(sorted(bounds), dtype=torch.float64)))
    expected = codec.decode(codec.encode(t))
    for out_dtype in (torch.float32, torch.float64):  # in place in the output, or a copy into it
        got = round_trip(codec, t, torch.full(t.shape, float("nan"), dtype=out_dtype))
        assert torch.equal(got.float().view(torch.int32), expected.view(torch.int32))


_BITS_VIEW = {torch.float32: torch.int32, torch.float64: torch.int64, torch.float16: torch.int16,
              torch.bfloat16: torch.int16}


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.floats(width=32), st.sampled_from([1e-40, -1e-45, 0.0, -0.0])), max_size=80),
       name=st.sampled_from(list(FLOATS)), dtype=st.sampled_from(list(_BITS_VIEW)))
def test_float_round_trip_is_the_decoded_words(values, name, dtype):
    """The saturating cast read back equals decoding its words, bit for bit (NaN, inf, subnormals included)."""
    t = torch.tensor(values, dtype=torch.float32).to(dtype)
    codec = FloatWords(get_format(name))
    expected = torch.empty_like(t).copy_(codec.decode(codec.encode(t)))
    got = round_trip(codec, t, torch.empty_like(t))
    assert torch.equal(got.view(_BITS_VIEW[dtype]), expected.view(_BITS_VIEW[dtype]))


def test_persistent_fixed_point_words_are_the_chips_flips_of_contract_1_words():
    """Persistent int4: each example's words are contract 1's words XOR the chip's faulty bits (u(a) < p)."""
    model, x, p, chip = _identity_model(), _x(40, 3000), 0.05, 2
    calib = calibrate_activations(model, [(x, None)], "0")
    q = get_format("int4")
    qrange = q.range_of(torch.tensor(calib.range_of("0"), dtype=torch.float64))
    with activation_faults(model, "0", p, "persistent", chip=chip, format="int4", calibration=calib):
        out = model(x)
    u = RandomBitErrors(0.0, seed=chip_seed(chip, ACTIVATION_CHIP_SALT)).uniform(torch.arange(3000 * 4))
    mask = ((u < p).view(3000, 4).long() << torch.arange(4)).sum(1)
    words = quantize_codes(x, 4, q.scheme, qrange).long() ^ mask
    assert torch.equal(out, dequantize_codes(words, 4, q.scheme, qrange))
