"""SECDED ECC (contract 6): against a textbook per-codeword reference, exhaustively for k = 8, sampled for k = 64."""

import itertools
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.bit_errors.bitstream import bits_to_words, words_to_bits
from bitrobust.bit_errors.ecc import POLICIES, SECDED_CODES, SECDED_K, EccCounts, Secded, secded_code
from bitrobust.errors import BitrobustError

# -- an independent, slow reference: the textbook extended Hamming code, one codeword at a time ---------------------


def ref_layout(k):
    """(r, data positions): positions 1..k+r of the Hamming code; data at the positions that are not powers of 2."""
    r = 1
    while 2**r < k + r + 1:
        r += 1
    return r, [pos for pos in range(1, k + r + 1) if pos & (pos - 1) != 0]


def ref_encode(data):
    """Check bits [p_1, p_2, p_4, ..., p_(2^(r-1)), overall] of one codeword's data bits (list of 0/1)."""
    r, positions = ref_layout(len(data))
    word = {pos: bit for pos, bit in zip(positions, data)}
    checks = []
    for t in range(r):  # p_(2^t) = parity of the data positions that have bit t set
        checks.append(sum(bit for pos, bit in word.items() if pos >> t & 1) % 2)
    overall = (sum(data) + sum(checks)) % 2
    return checks + [overall]


def ref_decode(data, checks):
    """(data as corrected, status in {"clean", "corrected", "detected"}); data as read when detected."""
    k = len(data)
    r, positions = ref_layout(k)
    word = dict(zip(positions, data))
    word.update({2**t: checks[t] for t in range(r)})
    syndrome = 0
    for pos, bit in word.items():
        if bit:
            syndrome ^= pos
    parity = (sum(word.values()) + checks[r]) % 2
    if syndrome == 0 and parity == 0:
        return list(data), "clean"
    if parity == 0:  # even number of flips, not zero: two
        return list(data), "detected"
    if syndrome == 0:  # the overall parity bit itself
        return list(data), "corrected"
    if syndrome > k + r:
        return list(data), "detected"
    fixed = list(data)
    if syndrome in positions:
        fixed[positions.index(syndrome)] ^= 1
    return fixed, "corrected"


def ref_stream(k, data_bits, check_bits):
    """ref_decode over consecutive codewords of a (zero-padded) stream: (bits, corrected, detected)."""
    bits = [int(b) for b in data_bits]
    length = len(bits)
    bits += [0] * (-length % k)
    checks = [int(c) for c in check_bits]
    r1 = len(checks) // (len(bits) // k)
    out, corrected, detected = [], 0, 0
    for c in range(len(bits) // k):
        fixed, status = ref_decode(bits[c * k : (c + 1) * k], checks[c * r1 : (c + 1) * r1])
        out += fixed
        corrected += status == "corrected"
        detected += status == "detected"
    return out[:length], corrected, detected


def test_reference_is_a_secded_code():
    # the reference itself, by brute force on k = 8: min distance 4 (so SECDED) and 256 distinct codewords
    words = {tuple(d) + tuple(ref_encode(list(d))) for d in itertools.product((0, 1), repeat=8)}
    assert len(words) == 256
    dist = min(sum(a != b for a, b in zip(u, v)) for u, v in itertools.combinations(words, 2))
    assert dist == 4


# -- sizes, names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k, n", [(8, 13), (16, 22), (32, 39), (64, 72)])
def test_sizes(k, n):
    code = Secded(k)
    assert (code.n, code.check_bits, code.overhead) == (n, n - k, n / k)
    assert secded_code(f"secded{k}") == code
    assert code.name == f"secded{k}"
    assert len(set(code.columns())) == k and all(c & (c - 1) for c in code.columns())


def test_registry_and_validation():
    assert SECDED_CODES.names() == sorted(f"secded{k}" for k in SECDED_K)
    with pytest.raises(BitrobustError, match="valid: secded16, secded32, secded64, secded8"):
        secded_code("(72,64)")
    for bad in (12, 128, True, "64"):
        with pytest.raises(BitrobustError, match="8, 16, 32, 64"):
            Secded(bad)
    code = Secded(8)
    data = torch.zeros(16, dtype=torch.bool)
    check = code.encode(data)
    with pytest.raises(BitrobustError, match="valid: keep, zero"):
        code.decode(data, check, policy="drop")
    with pytest.raises(BitrobustError, match="need 10 check bits"):
        code.decode(data, check[:-1])
    with pytest.raises(BitrobustError, match="0 or 1"):
        code.encode(torch.full((8,), 2))
    with pytest.raises(BitrobustError, match="bool or 0/1"):
        code.encode(torch.zeros(8))


# -- encoding ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", SECDED_K)
def test_encode_zero_is_zero(k):
    code = Secded(k)
    assert not code.encode(torch.zeros(3 * k + 5, dtype=torch.bool)).any()
    assert code.encode(torch.zeros(3 * k, dtype=torch.bool)).numel() == 3 * code.check_bits


@pytest.mark.parametrize("k", SECDED_K)
def test_encode_matches_reference(k):
    gen = torch.Generator().manual_seed(k)
    code = Secded(k)
    data = torch.randint(0, 2, (40 * k,), generator=gen).bool()
    check = code.encode(data).view(-1, code.check_bits).int().tolist()
    expected = [ref_encode(data[c * k : (c + 1) * k].int().tolist()) for c in range(40)]
    assert check == expected


@pytest.mark.parametrize("k", SECDED_K)
def test_last_chunk_is_zero_padded(k):
    code = Secded(k)
    length = 5 * k + k // 2 + 1
    data = torch.randint(0, 2, (length,), generator=torch.Generator().manual_seed(1)).bool()
    padded = torch.cat([data, torch.zeros(code.codewords(length) * k - length, dtype=torch.bool)])
    assert code.codewords(length) == 6
    assert torch.equal(code.encode(data), code.encode(padded))
    check = code.encode(data)
    read = data.clone()
    read[-1] ^= True  # a flip in the short last codeword
    fixed, counts = code.decode(read, check)
    assert fixed.shape == data.shape and torch.equal(fixed, data)
    assert counts == EccCounts(codewords=6, corrected=1, detected=0)
    read[-2] ^= True
    zeroed, counts = code.decode(read, check, policy="zero")
    assert counts.detected == 1 and not zeroed[5 * k :].any() and torch.equal(zeroed[: 5 * k], data[: 5 * k])


# -- decoding: exhaustive for k = 8 ------------------------------------------------------------------------------


def codewords_with_flips(code, data_words, flip_sets):
    """Every data word x every flip set, one codeword each: (data bits, check bits, read data, read check)."""
    k, c = code.k, code.check_bits
    data = torch.tensor([[int(b) for b in f"{v:0{k}b}"[::-1]] for v in data_words], dtype=torch.bool)
    data = data.repeat_interleave(len(flip_sets), 0)
    check = code.encode(data.reshape(-1)).view(-1, c)
    word = torch.cat([data, check], 1)
    flips = torch.zeros_like(word)
    for i, positions in enumerate(flip_sets * len(data_words)):
        flips[i, list(positions)] = True
    read = word ^ flips
    return data, check, read[:, :k].reshape(-1), read[:, k:].reshape(-1)


def test_k8_every_single_flip_corrected_for_every_data_word():
    code = Secded(8)
    singles = [(pos,) for pos in range(code.n)]  # 8 data bits, 4 Hamming bits, the overall parity bit
    data, _, read, read_check = codewords_with_flips(code, range(256), singles)
    for policy in POLICIES:
        fixed, counts = code.decode(read, read_check, policy=policy)
        assert torch.equal(fixed, data.reshape(-1))
        assert counts == EccCounts(codewords=256 * 13, corrected=256 * 13, detected=0)


def test_k8_every_double_flip_detected_never_miscorrected():
    code = Secded(8)
    pairs = list(itertools.combinations(range(code.n), 2))
    assert len(pairs) == 78
    data, _, read, read_check = codewords_with_flips(code, range(256), pairs)
    kept, counts = code.decode(read, read_check, policy="keep")
    assert counts == EccCounts(codewords=256 * 78, corrected=0, detected=256 * 78)
    assert torch.equal(kept, read)  # keep: exactly the bits as read, nothing "corrected"
    zeroed, counts = code.decode(read, read_check, policy="zero")
    assert counts.detected == 256 * 78 and not zeroed.any()


def test_k8_every_flip_pattern_matches_reference():
    # all 2^13 error patterns on a few data words: the vectorized decoder == the textbook one, also for >= 3 flips
    code = Secded(8)
    patterns = [tuple(i for i in range(13) if e >> i & 1) for e in range(1 << 13)]
    for value in (0, 0xA5):
        _, _, read, read_check = codewords_with_flips(code, [value], patterns)
        bits, corrected, detected = ref_stream(8, read.tolist(), read_check.tolist())
        fixed, counts = code.decode(read, read_check)
        assert fixed.int().tolist() == bits
        assert (counts.corrected, counts.detected) == (corrected, detected)


# -- decoding: sampled for k = 64 --------------------------------------------------------------------------------


def test_k64_sampled_single_and_double_flips():
    code = Secded(64)
    rng = random.Random(64)
    words = [rng.getrandbits(64) for _ in range(60)]
    singles = [(pos,) for pos in range(code.n)]  # all 72 positions
    data, _, read, read_check = codewords_with_flips(code, words, singles)
    fixed, counts = code.decode(read, read_check)
    assert torch.equal(fixed, data.reshape(-1)) and counts.corrected == 60 * 72 and counts.detected == 0
    pairs = [tuple(rng.sample(range(code.n), 2)) for _ in range(300)]
    pairs += [(a, b) for a in range(64, 72) for b in range(a + 1, 72)]  # every pair of check bits
    data, _, read, read_check = codewords_with_flips(code, words[:10], pairs)
    kept, counts = code.decode(read, read_check)
    assert counts == EccCounts(codewords=10 * len(pairs), corrected=0, detected=10 * len(pairs))
    assert torch.equal(kept, read)


@pytest.mark.parametrize("k", SECDED_K)
def test_random_flips_match_reference(k):
    code = Secded(k)
    gen = torch.Generator().manual_seed(100 + k)
    length = 97 * k - 3
    data = torch.randint(0, 2, (length,), generator=gen).bool()
    check = code.encode(data)
    read = data ^ (torch.rand(length, generator=gen) < 0.02)
    read_check = check ^ (torch.rand(check.numel(), generator=gen) < 0.02)
    bits, corrected, detected = ref_stream(k, read.tolist(), read_check.tolist())
    fixed, counts = code.decode(read, read_check)
    assert fixed.int().tolist() == bits
    assert counts == EccCounts(codewords=97, corrected=corrected, detected=detected)
    assert corrected > 0 and detected > 0  # the rate makes both happen: the comparison is not vacuous


# -- properties ---------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(k=st.sampled_from(SECDED_K), bits=st.lists(st.booleans(), min_size=0, max_size=300), uint8=st.booleans())
def test_decode_of_encode_is_identity(k, bits, uint8):
    code = Secded(k)
    data = torch.tensor(bits, dtype=torch.uint8 if uint8 else torch.bool)
    for policy in POLICIES:
        fixed, counts = code.decode(data, code.encode(data), policy=policy)
        assert fixed.dtype == data.dtype and torch.equal(fixed, data)
        assert counts == EccCounts(codewords=code.codewords(len(bits)), corrected=0, detected=0)


@settings(max_examples=40, deadline=None)
@given(k=st.sampled_from(SECDED_K), data=st.data())
def test_linearity(k, data):
    # encode(a ^ b) = encode(a) ^ encode(b): the syndrome depends on the error pattern only
    code = Secded(k)
    length = data.draw(st.integers(1, 4 * k))
    a = torch.tensor(data.draw(st.lists(st.booleans(), min_size=length, max_size=length)))
    b = torch.tensor(data.draw(st.lists(st.booleans(), min_size=length, max_size=length)))
    assert torch.equal(code.encode(a ^ b), code.encode(a) ^ code.encode(b))


# -- the word interface ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("m, dtype", [(3, torch.uint8), (8, torch.uint8), (8, torch.int32), (16, torch.int16),
                                      (12, torch.int16), (32, torch.int32)])
def test_words_match_bit_stream(m, dtype):
    code = Secded(32)
    gen = torch.Generator().manual_seed(m)
    raw = torch.randint(0, 2**m, (2, 51), generator=gen, dtype=torch.int64)
    words = raw.to(dtype)  # for m = width: raw patterns (16-bit values >= 2^15 become negative int16)
    bits = words_to_bits(words, m)
    check = code.encode_words(words, m)
    assert torch.equal(check, code.encode(bits))
    read_bits = bits ^ (torch.rand(bits.numel(), generator=gen) < 0.03)
    read_check = check ^ (torch.rand(check.numel(), generator=gen) < 0.03)
    read = bits_to_words(read_bits, m, dtype).view(words.shape)
    for policy in POLICIES:
        fixed_words, wc = code.decode_words(read, m, read_check, policy)
        fixed_bits, bc = code.decode(read_bits, read_check, policy)
        assert wc == bc and wc.corrected > 0
        assert fixed_words.dtype == dtype and fixed_words.shape == words.shape
        assert torch.equal(words_to_bits(fixed_words, m), fixed_bits)
