import hashlib
import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.bit_errors import RandomBitErrors, flip_bits
from bitrobust.bit_errors.hashing import mix64, mix64_int, popcount64
from bitrobust.bit_errors import random_chips
from bitrobust.bit_errors.random_chips import BLOCK_BITS, _first_level_table, _pack_flips
from bitrobust.errors import BitrobustError

rates = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def z_score(count: int, n: int, p: float) -> float:
    return abs(count - n * p) / math.sqrt(n * p * (1 - p))


def test_hash_matches_integer_reference():
    xs = [random.Random(0).getrandbits(64) for _ in range(1)] + [random.Random(i).getrandbits(64) for i in range(500)]
    t = torch.tensor([x - (1 << 64) if x >= 1 << 63 else x for x in xs])
    assert [v & ((1 << 64) - 1) for v in mix64(t).tolist()] == [mix64_int(x) for x in xs]
    assert popcount64(t).tolist() == [bin(x).count("1") for x in xs]


def test_first_level_table_is_a_binomial_cdf():
    t = _first_level_table()
    assert t[-1].item() == 2**62 and bool((t[1:] >= t[:-1]).all())
    pmf = torch.diff(t, prepend=torch.zeros(1, dtype=torch.int64)).double() / 2**62
    k = torch.arange(len(t), dtype=torch.float64)
    assert (pmf * k).sum().item() == pytest.approx(BLOCK_BITS / 16, rel=1e-9)


@pytest.mark.parametrize("p", [0.0, 1e-5, 0.001, 0.01, 0.0625, 0.1, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("span", [(0, 70_000), (12_345, 23_456)])
def test_sparse_faults_equal_the_dense_definition(p, span):
    chip = RandomBitErrors(p, chip=7)
    start, stop = span
    u = chip.uniform(torch.arange(start, stop))
    dense = torch.nonzero(u < p).flatten() + start
    sparse = torch.sort(chip.flip_addresses(start, stop)).values
    assert torch.equal(sparse, dense)


def test_u_is_uniform():
    u = RandomBitErrors(0.5, chip=3).uniform(torch.arange(200_000))
    hist = torch.histc(u.float(), bins=20, min=0, max=1)
    n = len(u)
    assert all(z_score(int(c), n, 0.05) < 5 for c in hist)
    assert float(u.min()) >= 0 and float(u.max()) < 1


@pytest.mark.parametrize("p", [0.001, 0.01, 0.1])
def test_flip_rate_per_bit_position(p):
    words, bits = 200_000, 8
    codes = torch.zeros(words, dtype=torch.uint8)
    out = RandomBitErrors(p, chip=1).apply(codes, bits)
    for j in range(bits):
        count = int(((out >> j) & 1).sum())
        assert z_score(count, words, p) < 4.5, (j, count)


def test_zero_to_one_and_one_to_zero_are_the_same_faults():
    chip = RandomBitErrors(0.05, chip=2)
    zeros = chip.apply(torch.zeros(5000, dtype=torch.uint8), 8)
    ones = chip.apply(torch.full((5000,), 255, dtype=torch.uint8), 8)
    assert torch.equal(zeros, 255 - ones)


@settings(max_examples=40, deadline=None)
@given(p1=rates, p2=rates, chip=st.integers(0, 1000))
def test_subset_across_rates(p1, p2, chip):
    lo, hi = sorted((p1, p2))
    a = set(RandomBitErrors(lo, chip=chip).flip_addresses(0, 30_000).tolist())
    b = set(RandomBitErrors(hi, chip=chip).flip_addresses(0, 30_000).tolist())
    assert a <= b


def test_same_seed_same_errors_different_chips_differ():
    codes = torch.randint(0, 256, (50_000,), dtype=torch.uint8)
    a = RandomBitErrors(0.01, chip=4).apply(codes, 8)
    assert torch.equal(a, RandomBitErrors(0.01, chip=4).apply(codes, 8))
    assert torch.equal(a, RandomBitErrors(0.01, seed=RandomBitErrors(0, chip=4).seed).apply(codes, 8))
    b = RandomBitErrors(0.01, chip=5).apply(codes, 8)
    assert not torch.equal(a, b)
    # independent chips share about p of their faulty bits
    fa = set(RandomBitErrors(0.01, chip=4).flip_addresses(0, 400_000).tolist())
    fb = set(RandomBitErrors(0.01, chip=5).flip_addresses(0, 400_000).tolist())
    assert len(fa & fb) < 0.03 * len(fa)


@pytest.mark.parametrize("bits", [1, 3, 8])
def test_p0_changes_nothing_and_p1_flips_every_bit(bits):
    codes = torch.randint(0, 2**bits, (1000,), dtype=torch.uint8)
    assert torch.equal(RandomBitErrors(0.0).apply(codes, bits), codes)
    assert torch.equal(RandomBitErrors(1.0).apply(codes, bits), codes ^ (2**bits - 1))


@pytest.mark.parametrize("bits", [2, 5, 8])
def test_word_offset_places_words_in_the_same_memory(bits):
    chip = RandomBitErrors(0.05, chip=9)
    codes = torch.randint(0, 2**bits, (3001,), dtype=torch.uint8)
    whole = chip.apply(codes, bits)
    parts = torch.cat([chip.apply(codes[:1234], bits), chip.apply(codes[1234:], bits, word_offset=1234)])
    assert torch.equal(whole, parts)
    assert int(whole.max()) < 2**bits


def test_flip_bits_multiple_bits_per_word():
    codes = torch.tensor([0, 5, 255], dtype=torch.uint8)
    out = flip_bits(codes, 8, torch.tensor([0, 1, 7, 8, 16 + 7]))
    assert out.tolist() == [0b10000011, 4, 127]


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_bad_rates(p):
    with pytest.raises(BitrobustError, match="p must be in"):
        RandomBitErrors(p)


# high rates (p >= DENSE_MIN_RATE) are evaluated densely; the sparse path, which evaluates the same
# u at any rate, is the reference, and the digests below pin the faulty sets the implementation had
# before the dense path existed (chip 0, addresses [12345, 62346): count, sha256 of the sorted list)
HIGH_RATES = [0.05, 0.0625, 0.07, 0.1, 0.2, 0.3, 0.5, 0.9]
PINNED = {
    0.0625: (3098, "0e9371a8ec61195a"),
    0.1: (4933, "65a08b0b36965d05"),
    0.3: (14770, "b0722abd2c812e76"),
    0.5: (24713, "05d66b7055e047ec"),
    0.9: (44896, "7dfd83f28a69053a"),
}


@pytest.fixture(params=[64, 1], ids=["default-steps", "one-block-steps"])
def dense_steps(request, monkeypatch):
    """The default dense step, and one block per step (many step boundaries)."""
    monkeypatch.setitem(random_chips._DENSE_CHUNK_BLOCKS, "cpu", request.param)


@pytest.mark.parametrize("p", sorted(PINNED))
def test_high_rate_chips_are_pinned(p, dense_steps):
    a = torch.sort(RandomBitErrors(p, chip=0).flip_addresses(12_345, 62_346)).values.tolist()
    digest = hashlib.sha256(",".join(map(str, a)).encode()).hexdigest()[:16]
    assert (len(a), digest) == PINNED[p]


@pytest.mark.parametrize("p", HIGH_RATES + [0.055])
@pytest.mark.parametrize("span", [(0, 4096 * 70), (12_345, 300_001), (4095, 4097), (8191, 8192), (1, 2)])
def test_dense_path_equals_sparse_path(p, span, dense_steps):
    chip = RandomBitErrors(p, chip=11)
    assert p >= random_chips.DENSE_MIN_RATE
    dense = torch.sort(chip.flip_addresses(*span)).values
    assert torch.equal(dense, torch.sort(chip._sparse_addresses(*span, "cpu")).values)


@pytest.mark.parametrize("p", [0.0625, 0.1, 0.3, 0.9])
def test_dense_path_equals_the_definition_on_a_large_slice(p):
    start, stop = 1_000_003, 1_400_011
    chip = RandomBitErrors(p, chip=2)
    expected = torch.nonzero(chip.uniform(torch.arange(start, stop)) < p).flatten() + start
    assert torch.equal(torch.sort(chip.flip_addresses(start, stop)).values, expected)


@pytest.mark.parametrize("p", [0.05, 0.1, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("bits", [1, 3, 8, 16])
@pytest.mark.parametrize("word_offset", [0, 7, 12_345])
def test_dense_apply_equals_flipping_the_sparse_addresses(p, bits, word_offset, dense_steps):
    dtype = torch.int32 if bits > 8 else torch.uint8
    codes = torch.randint(0, 2**bits, (40_001,), dtype=dtype)
    chip = RandomBitErrors(p, chip=5)
    start = word_offset * bits
    addresses = chip._sparse_addresses(start, start + codes.numel() * bits, "cpu") - start
    assert torch.equal(chip.apply(codes, bits, word_offset), flip_bits(codes, bits, addresses))


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_high_rate_bnn_words_flip_at_rate_p(p):
    out = RandomBitErrors(p, chip=4).apply(torch.zeros(400_000, dtype=torch.uint8), bits=1)
    assert int(out.max()) == 1 and z_score(int(out.sum()), out.numel(), p) < 4.5


@pytest.mark.parametrize("bits", [1, 3, 8, 12])
def test_pack_flips_puts_bit_j_of_a_row_in_bit_j(bits):
    mask = torch.rand(1000, bits, generator=torch.Generator().manual_seed(bits)) < 0.5
    expected = (mask.to(torch.int64) << torch.arange(bits)).sum(1)
    assert torch.equal(_pack_flips(mask, torch.int64), expected)
    assert torch.equal(_pack_flips(mask[1::2], torch.int64), expected[1::2])  # not contiguous
