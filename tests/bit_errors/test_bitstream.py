"""The bit stream of m-bit words (contract 2 order) as bits, words and bytes."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.bit_errors.bitstream import (
    bits_to_words,
    bytes_to_words,
    pack_stream,
    unpack_stream,
    word_dtype,
    words_to_bits,
    words_to_bytes,
)
from bitrobust.bit_errors.memory_image import pack_bits
from bitrobust.errors import BitrobustError


def test_hand_computed_order():
    # word 0 = 6 = 0b110, word 1 = 1: stream 0,1,1, 1,0,0 (bit j of word i at i*m + j)
    assert words_to_bits(torch.tensor([6, 1]), 3).int().tolist() == [0, 1, 1, 1, 0, 0]
    # byte = sum of 2^a over set stream positions a = 2 + 4 + 8 = 0b001_110 (word 1 above word 0)
    assert words_to_bytes(torch.tensor([6, 1]), 3).tolist() == [0b001_110]
    assert bytes_to_words(torch.tensor([14], dtype=torch.uint8), 3, 2).tolist() == [6, 1]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_float_patterns_are_the_views(dtype):
    # a 16-bit float word is the int16 view; its bits are the IEEE pattern, bit 15 = sign
    x = torch.tensor([-1.5, 2.0, 65504.0 if dtype == torch.float16 else 3.0e38], dtype=dtype)
    words = x.view(torch.int16)
    bits = words_to_bits(words, 16).view(-1, 16)
    assert bits[:, 15].tolist() == [True, False, False]
    back = bits_to_words(bits.reshape(-1), 16)
    assert back.dtype == torch.int16 and torch.equal(back.view(dtype), x)
    assert torch.equal(words_to_bytes(words, 16), pack_stream(bits))
    assert torch.equal(bytes_to_words(words_to_bytes(words, 16), 16, 3).view(dtype), x)


@pytest.mark.parametrize("m", range(1, 9))
def test_bytes_equal_the_memory_image(m):
    words = torch.randint(0, 2**m, (37,), generator=torch.Generator().manual_seed(m))
    assert torch.equal(words_to_bytes(words, m), pack_bits(words, m))


@settings(max_examples=80, deadline=None)
@given(m=st.integers(1, 64), data=st.data())
def test_round_trips(m, data):
    values = data.draw(st.lists(st.integers(0, 2**m - 1), max_size=40))
    dtype = data.draw(st.sampled_from([d for d in (torch.uint8, torch.int16, torch.int32, torch.int64)
                                       if torch.iinfo(d).bits >= m]))
    width = torch.iinfo(dtype).bits
    signed = [v - 2**m if width == m and v >= 2 ** (m - 1) and dtype != torch.uint8 else v for v in values]
    words = torch.tensor(signed, dtype=dtype)
    bits = words_to_bits(words, m)
    assert bits.numel() == len(values) * m
    assert [sum(int(b) << j for j, b in enumerate(bits[i * m : (i + 1) * m])) for i in range(len(values))] == values
    assert torch.equal(bits_to_words(bits, m, dtype), words)
    packed = words_to_bytes(words, m)
    assert torch.equal(packed, pack_stream(bits))
    assert torch.equal(unpack_stream(packed, bits.numel()), bits)
    assert torch.equal(bytes_to_words(packed, m, len(values), dtype), words)


def test_validation():
    assert word_dtype(8) == torch.uint8 and word_dtype(33) == torch.int64
    with pytest.raises(BitrobustError, match=r"\[1, 64\]"):
        words_to_bits(torch.tensor([1]), 0)
    with pytest.raises(BitrobustError, match=r"values in \[0, 8\)"):
        words_to_bits(torch.tensor([8]), 3)
    with pytest.raises(BitrobustError, match="integer tensor"):
        words_to_bits(torch.tensor([1.0]), 3)
    with pytest.raises(BitrobustError, match="do not fit"):
        words_to_bits(torch.tensor([1], dtype=torch.uint8), 9)
    with pytest.raises(BitrobustError, match="whole number"):
        bits_to_words(torch.ones(7, dtype=torch.bool), 3)
    with pytest.raises(BitrobustError, match="at least"):
        bytes_to_words(torch.zeros(1, dtype=torch.uint8), 3, 3)
