"""Memory layout v2 (contract 5): data then metadata, first bit address = sum of preceding widths."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.bit_errors import ProfiledBitErrors, RandomBitErrors
from bitrobust.bit_errors.synthetic import uniform_chip
from bitrobust.formats import get_format
from bitrobust.quantization import FixedPointQuantizer, quantize_tensors


class Recorder:
    """An error model that flips nothing and records where each call's words sit."""

    def __init__(self):
        self.calls = []

    def apply(self, codes, bits, word_offset=0, *, bit_offset=None):
        self.calls.append((codes.numel(), bits, word_offset * bits if bit_offset is None else bit_offset))
        return codes


def tensors():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.randn(3, 130, generator=g), "b": torch.randn(3, generator=g), "c": torch.randn(2, 5, generator=g)}


def test_metadata_words_sit_after_the_data_at_the_sum_of_widths():
    state = quantize_tensors(tensors(), get_format("int4_g128"))
    # data: 390 + 3 + 10 four-bit words; metadata: a 3 rows x 2 groups, b 3 x 1, c 2 x 1; scales then minima
    data_bits = 4 * (390 + 3 + 10)
    assert [(s.region, s.names, s.bit_offset, s.bits) for s in state.segments] == [
        ("data", ("a", "b", "c"), 0, 4), ("metadata", ("a", "b", "c"), data_bits, 16)]
    rec = Recorder()
    state.with_errors(rec, regions=("data", "metadata"))
    assert rec.calls == [(403, 4, 0), (2 * (6 + 3 + 2), 16, data_bits)]
    # brute force: flip the single bit at address A, find which word and bit changed
    meta = state.flat_metadata()
    for k, j in [(0, 0), (5, 15), (6, 3), (21, 9)]:  # word 6 = tensor a's first minimum (after its 6 scales)
        address = data_bits + 16 * k + j

        class One:
            def apply(self, codes, bits, word_offset=0, *, bit_offset=None):
                start = word_offset * bits if bit_offset is None else bit_offset
                out = codes.clone()
                rel = address - start
                if 0 <= rel < codes.numel() * bits:
                    out[rel // bits] ^= 1 << (rel % bits)
                return out

        read = state.with_errors(One(), regions=("data", "metadata"))
        assert torch.equal(read.flat_codes(), state.flat_codes())
        diff = (read.flat_metadata() ^ meta).nonzero().flatten().tolist()
        assert diff == [k] and int(read.flat_metadata()[k] ^ meta[k]) == 1 << j


def test_metadata_is_reliable_unless_exposed():
    state = quantize_tensors(tensors(), get_format("int8_channel"))
    chip = RandomBitErrors(0.2, chip=0)
    assert torch.equal(state.with_errors(chip).flat_metadata(), state.flat_metadata())
    exposed = state.with_errors(chip, regions=("data", "metadata"))
    assert torch.equal(exposed.flat_codes(), state.with_errors(chip).flat_codes())
    assert not torch.equal(exposed.flat_metadata(), state.flat_metadata())


def test_uniform_per_tensor_format_is_contract_2():
    state = quantize_tensors(tensors(), FixedPointQuantizer(8))
    chip = RandomBitErrors(0.05, chip=3)
    assert torch.equal(state.with_errors(chip).flat_codes(), chip.apply(state.flat_codes(), 8))
    assert state.segments[0].bit_offset == 0 and len(state.segments) == 1


def test_bit_offset_equals_word_offset_for_aligned_words_and_is_the_same_u():
    chip = RandomBitErrors(0.3, chip=1)
    words = torch.zeros(50, dtype=torch.int64)
    assert torch.equal(chip.apply(words, 16, 7), chip.apply(words, 16, bit_offset=112))
    # unaligned: the words' flips are those of the chip's addresses 100 .. 100 + 800
    flipped = chip.apply(words, 16, bit_offset=100)
    expected = set((chip.flip_addresses(100, 900) - 100).tolist())
    got = {16 * i + j for i in range(50) for j in range(16) if int(flipped[i]) >> j & 1}
    assert got == expected
    profiled = ProfiledBitErrors(uniform_chip(32, 32, 0.1, 0.1, 0.0, seed=0), offset=5)
    assert torch.equal(profiled.apply(words, 16, 7), profiled.apply(words, 16, bit_offset=112))


FORMAT_NAMES = ["int8", "int8_channel", "int4_g128", "fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2"]


def _source(kind, p, seed):
    if kind == "random":
        return RandomBitErrors(p, chip=seed)
    if kind == "transient":
        return RandomBitErrors(p, seed=1000 + seed)
    return ProfiledBitErrors(uniform_chip(64, 64, p / 2, p / 2, 0.0, seed=seed), offset=seed)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(FORMAT_NAMES), kind=st.sampled_from(["random", "transient", "profiled"]),
       p=st.floats(0.0, 0.3), q=st.floats(0.0, 0.3), seed=st.integers(0, 5))
def test_errors_grow_with_p_and_vanish_at_zero(name, kind, p, q, seed):
    """Across formats x sources: p = 0 reads the clean words; the flips at p' <= p are a subset of those at p
    (a profiled chip fixes its own rate: a chip with rate 0 reads clean, and a chip reads the same every time)."""
    state = quantize_tensors(tensors(), get_format(name))
    regions = ("data", "metadata")
    clean = torch.cat([state.flat_codes().to(torch.int64), state.flat_metadata()])

    def flips(rate):
        read = state.with_errors(_source(kind, rate, seed), regions=regions)
        return torch.cat([read.flat_codes().to(torch.int64), read.flat_metadata()]) ^ clean

    assert not flips(0.0).any()
    if kind == "profiled":
        assert torch.equal(flips(p), flips(p))
        return
    lo, hi = flips(min(p, q)), flips(max(p, q))
    assert torch.equal(lo & hi, lo)
