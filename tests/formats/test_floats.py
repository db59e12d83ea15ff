"""Float formats (contract 5): words are torch's own bit patterns, saturation, exact decoding of flips."""

from __future__ import annotations

import pytest
import torch

from bitrobust.formats import decode_float, encode_float, get_format

FLOATS = {"fp32": (torch.float32, torch.int32), "fp16": (torch.float16, torch.int16),
          "bf16": (torch.bfloat16, torch.int16), "fp8_e4m3": (torch.float8_e4m3fn, torch.uint8),
          "fp8_e5m2": (torch.float8_e5m2, torch.uint8)}


def sample(n=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g) * torch.exp2(torch.randint(-12, 8, (n,), generator=g).float())
    return torch.cat([x, torch.tensor([0.0, -0.0, 1.0, -1.0, 1e-9, -1e-9])])


@pytest.mark.parametrize("name", FLOATS)
def test_words_are_torch_bit_patterns(name):
    dtype, idtype = FLOATS[name]
    big = torch.finfo(dtype).max
    x = sample().clamp(-big, big)
    fmt = get_format(name)
    stored = fmt.quantize(x)
    expected = x.to(dtype).view(idtype).to(torch.int64) & ((1 << fmt.bits) - 1)
    assert fmt.bits == torch.finfo(dtype).bits
    assert torch.equal(stored.codes.to(torch.int64), expected)
    assert int(stored.codes.min()) >= 0 and int(stored.codes.max()) < 2**fmt.bits
    assert torch.equal(stored.dequantize(), x.to(dtype).float())  # round trip = torch's cast


@pytest.mark.parametrize("name", FLOATS)
def test_saturates_to_the_largest_finite_value(name):
    dtype, _ = FLOATS[name]
    big = torch.finfo(dtype).max
    x = torch.tensor([float("inf"), -float("inf"), 1e39 if dtype != torch.float32 else 3e38, -4 * big])
    out = get_format(name).quantize(x).dequantize()
    assert out.tolist() == [big, -big, big if dtype != torch.float32 else x[2].item(), -big]


@pytest.mark.parametrize("name", FLOATS)
def test_flipping_bit_j_flips_exactly_that_bit_of_the_pattern(name):
    dtype, idtype = FLOATS[name]
    fmt = get_format(name)
    x = sample(200).clamp(-torch.finfo(dtype).max, torch.finfo(dtype).max)
    stored = fmt.quantize(x)
    for j in range(fmt.bits):
        flipped = stored.with_codes(stored.codes ^ (1 << j) if fmt.bits < 32 else stored.codes ^ (1 << j))
        pattern = flipped.dequantize().to(dtype).view(idtype).to(torch.int64) & ((1 << fmt.bits) - 1)
        original = x.to(dtype).view(idtype).to(torch.int64) & ((1 << fmt.bits) - 1)
        nan = torch.isnan(flipped.dequantize())
        # NaN payloads may not survive the cast back to float32; every other value is exact
        assert torch.equal((pattern ^ original)[~nan], torch.full_like(original, 1 << j)[~nan])


def test_exponent_flips_give_inf_and_nan_exactly():
    one = encode_float(torch.tensor([1.0]), torch.float16)  # 0 01111 0000000000
    assert decode_float(one ^ (1 << 14), torch.float16).item() == float("inf")  # exponent all ones
    assert torch.isnan(decode_float((one ^ (1 << 14)) | 1, torch.float16)).all()
    e4m3 = encode_float(torch.tensor([448.0]), torch.float8_e4m3fn)  # S.1111.110: largest finite
    assert torch.isnan(decode_float(e4m3 ^ 1, torch.float8_e4m3fn)).all()  # S.1111.111 is NaN (fn: no inf)
    e5m2 = encode_float(torch.tensor([1.0]), torch.float8_e5m2)
    assert decode_float(e5m2 ^ (1 << 6), torch.float8_e5m2).item() == float("inf")
