"""Protection, targeting and SECDED ECC in the read path (contract 6): every property against the unprotected
read of the same chip, the chip's own flip addresses, or hand-built error patterns."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections import OrderedDict

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitrobust.bit_errors import ProfiledBitErrors, RandomBitErrors, uniform_chip
from bitrobust.bit_errors.ecc import Secded
from bitrobust.bit_errors.protection import (
    BIT_FIELDS,
    METADATA_KIND,
    PROTECTION_FIELDS,
    ProtectedMemory,
    Protection,
    WordKind,
    data_kind,
    read_protected,
)
from bitrobust.errors import BitrobustError
from bitrobust.formats import get_format
from bitrobust.quantization import quantize_tensors

FORMATS = ("int8", "normal4", "int2", "int8_channel", "int4_g128", "fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2")
NAMES = ("conv.weight", "conv.bias", "fc.weight", "fc.bias")


def _state(fmt: str, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    shapes = ((6, 3, 3, 3), (6,), (10, 150), (10,))
    tensors = OrderedDict((n, torch.randn(s, generator=gen)) for n, s in zip(NAMES, shapes))
    return quantize_tensors(tensors, get_format(fmt))


def _source(kind: str, chip: int, p: float):
    if kind == "random":
        return RandomBitErrors(p, chip=chip)
    if kind == "transient":
        return RandomBitErrors(p, seed=1000 + chip)
    q = min(p, 0.1)  # a uniform chip of this size holds up to about 10% faulty cells per kind
    return ProfiledBitErrors(uniform_chip(64, 64, q, q, q / 2, seed=chip), offset=17 * chip)


def _words(state, region: str) -> dict[str, torch.Tensor]:
    return {n: (qt.codes if region == "data" else qt.metadata).reshape(-1).to(torch.int64) for n, qt in state.tensors.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(FORMATS), source=st.sampled_from(("random", "transient", "profiled")),
       chip=st.integers(0, 5), p=st.sampled_from((0.01, 0.1, 0.3)), data=st.data())
def test_read_is_the_raw_read_masked_to_the_allowed_bits(fmt, source, chip, p, data):
    """Every format x source: a protected/targeted read = clean XOR ((raw XOR clean) AND allowed), per word,
    with allowed = 0 for protected or untargeted tensors; so protected bits and tensors never change and every
    flip lies in a targeted bit of a targeted tensor."""
    state = _state(fmt, chip)
    m = state.bits
    positions = data.draw(st.lists(st.integers(0, m - 1), max_size=3, unique=True))
    protect = data.draw(st.sampled_from((None, "msb", ",".join(map(str, positions)) or None)))
    target = data.draw(st.sampled_from((None, "0", ",".join(map(str, positions)) or None)))
    protect_t = data.draw(st.sampled_from(((), ("fc.w*",), ("*.bias",))))
    target_t = data.draw(st.sampled_from(((), ("conv.*",), ("fc.weight", "conv.bias"))))
    expose = data.draw(st.booleans())
    prot = Protection(protect_bits=protect, target_bits=target, protect_tensors=protect_t, target_tensors=target_t,
                      expose_metadata=expose)
    errors = _source(source, chip, p)
    read, ecc = read_protected(state, errors, prot)
    raw = state.with_errors(errors, regions=("data", "metadata"))
    assert ecc is None
    for region in ("data", "metadata"):
        clean, got, unprotected = _words(state, region), _words(read, region), _words(raw, region)
        for name in NAMES:
            kind = data_kind(name, state.tensors[name]) if region == "data" else METADATA_KIND
            full = (1 << kind.bits) - 1
            allowed = full
            if target is not None:
                allowed &= kind.mask(target, strict=False)
            if protect is not None:
                allowed &= ~kind.mask(protect, strict=False)
            if any(fnmatch.fnmatchcase(name, g) for g in protect_t) or (
                    target_t and not any(fnmatch.fnmatchcase(name, g) for g in target_t)):
                allowed = 0
            if region == "metadata" and not expose:
                allowed = 0
            expected = clean[name] ^ ((unprotected[name] ^ clean[name]) & allowed)
            assert torch.equal(got[name], expected), (region, name)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("source", ["random", "transient", "profiled"])
def test_default_protection_and_all_bits_targeted_read_as_today(fmt, source):
    """Protection() is contract 2's read (by construction); targeting every bit goes through the masked path
    and must give the same words, so the masked path adds nothing of its own."""
    state = _state(fmt)
    errors = _source(source, 3, 0.05)
    today = state.with_errors(errors)
    for prot in (Protection(), Protection(target_bits=",".join(map(str, range(state.bits))))):
        read, _ = read_protected(state, errors, prot)
        assert torch.equal(read.flat_codes(), today.flat_codes())
        assert torch.equal(read.flat_metadata(), state.flat_metadata())
    assert not torch.equal(today.flat_codes(), state.flat_codes())  # the chip does flip bits here


def test_metadata_reliable_by_default_and_flipped_when_exposed():
    state = _state("int4_g128")
    errors = RandomBitErrors(0.1, chip=2)
    default, _ = read_protected(state, errors)
    assert torch.equal(default.flat_metadata(), state.flat_metadata())
    exposed, _ = read_protected(state, errors, Protection(expose_metadata=True))
    raw = state.with_errors(errors, regions=("data", "metadata"))
    assert not torch.equal(exposed.flat_metadata(), state.flat_metadata())
    assert torch.equal(exposed.flat_metadata(), raw.flat_metadata())
    assert torch.equal(exposed.flat_codes(), raw.flat_codes())


def test_float_fields_are_the_ieee_fields():
    """sign = the pattern of -0.0, exponent = the pattern of +inf (e4m3fn: S.1111.000, no inf), per torch."""
    for fmt, dtype in (("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16),
                       ("fp8_e5m2", torch.float8_e5m2)):
        kind = data_kind("w", get_format(fmt).quantize(torch.ones(1)))
        m = kind.bits
        view = {8: torch.uint8, 16: torch.int16, 32: torch.int32}[m]

        def pattern(x):
            return int(torch.tensor([x], dtype=torch.float32).to(dtype).view(view).to(torch.int64)) & ((1 << m) - 1)
        assert kind.field("sign") == pattern(-0.0) == kind.field("msb")
        assert kind.field("exponent") == pattern(float("inf"))
        assert kind.field("mantissa") == (1 << m) - 1 - pattern(-0.0) - pattern(float("inf"))
    e4m3 = data_kind("w", get_format("fp8_e4m3").quantize(torch.ones(1)))
    assert (e4m3.field("sign"), e4m3.field("exponent"), e4m3.field("mantissa")) == (0x80, 0x78, 0x07)
    int8 = data_kind("w", get_format("int8").quantize(torch.ones(1)))
    normal8 = data_kind("w", get_format("normal8").quantize(torch.ones(1)))
    assert int8.field("msb") == 0x80 == normal8.field("sign") and int8.field("5") == 32


@pytest.mark.parametrize("prot, message", [
    (dict(protect_bits="exponent"), "integers: they have no exponent field"),
    (dict(protect_bits="sign"), "unsigned integers: they have no sign field; valid: msb"),
    (dict(target_bits="8"), "bit position 8 is outside the 8-bit"),
    (dict(protect_tensors="fcc*"), "'fcc*' matches no stored tensor"),
    (dict(target_tensors="nothing"), "'nothing' matches no stored tensor"),
])
def test_settings_checked_against_the_state(prot, message):
    with pytest.raises(BitrobustError, match=re.escape(message)):
        ProtectedMemory(_state("int8"), Protection(**prot))


@pytest.mark.parametrize("prot, message", [
    (dict(protect_bits="lsb"), "unknown bit field 'lsb'; valid: msb, sign, exponent, mantissa"),
    (dict(ecc="secded12"), "unknown ECC code 'secded12'; valid: secded16"),
    (dict(ecc="secded64", ecc_policy="drop"), "unknown ECC policy 'drop'; valid: keep, zero"),
    (dict(ecc_policy="zero"), "an ECC policy needs an ECC code"),
])
def test_bad_names_list_the_valid_ones(prot, message):
    with pytest.raises(BitrobustError, match=re.escape(message)):
        Protection(**prot)


def test_field_names_and_canonical_spelling():
    assert PROTECTION_FIELDS == tuple(f.name for f in dataclasses.fields(Protection))
    assert set(BIT_FIELDS) == {"msb", "sign", "exponent", "mantissa"}
    p = Protection(protect_bits=" Sign ,exponent", protect_tensors="a*, b")
    assert (p.protect_bits, p.protect_tensors) == ("sign,exponent", ("a*", "b"))
    assert Protection().to_dict() == {} and Protection().is_default


# -- SECDED ECC in the read path ----------------------------------------------------------------


class FlipAddresses:
    """An error model that flips exactly the given absolute bit addresses (any region)."""

    def __init__(self, addresses):
        self.addresses = set(addresses)

    def apply(self, codes, bits, word_offset=0, *, bit_offset=None):
        start = word_offset * bits if bit_offset is None else bit_offset
        flat = codes.reshape(-1).clone()
        for a in self.addresses:
            if start <= a < start + flat.numel() * bits:
                i, j = divmod(a - start, bits)
                flat[i] ^= 1 << j
        return flat.view(codes.shape)


def test_ecc_region_follows_the_metadata():
    state = _state("int4_g128")
    memory = ProtectedMemory(state, Protection(ecc="secded32"))
    data, meta, ecc = memory.segments
    code = Secded(32)
    assert (data.region, meta.region, ecc.region) == ("data", "metadata", "ecc")
    assert ecc.bit_offset == meta.stop == data.stop + state.flat_metadata().numel() * 16
    assert (ecc.bits, ecc.num_words) == (code.check_bits, code.codewords(state.num_words * 4))


def test_ecc_corrects_every_single_flip_per_codeword_and_counts_it():
    """k = 64 at a low p on a chip whose every codeword (72 bits: data and check bits) has at most one flip:
    the model reads back exactly its clean words and each flipped codeword counts as corrected."""
    state = _state("int8")
    memory = ProtectedMemory(state, Protection(ecc="secded64"))
    data, ecc = memory.segments
    for chip in range(50):
        errors = RandomBitErrors(0.0005, chip=chip)
        flips = errors.flip_addresses(0, ecc.stop)
        codeword = torch.where(flips < data.stop, flips // 64, (flips - ecc.bit_offset) // 8)
        per_codeword = torch.bincount(codeword, minlength=ecc.num_words)
        if 2 <= len(flips) and int(per_codeword.max()) == 1 and bool((flips >= ecc.bit_offset).any()):
            break
    else:
        pytest.fail("no chip with only single flips per codeword and a check-bit flip")
    read, counts = memory.read(errors)
    assert torch.equal(read.flat_codes(), state.flat_codes())
    assert not torch.equal(state.with_errors(errors).flat_codes(), state.flat_codes())  # without ECC: wrong words
    assert counts.codewords == ecc.num_words and counts.corrected == len(flips) and counts.detected == 0


@pytest.mark.parametrize("fmt", ["int8", "fp16", "int4_g128"])
def test_double_flip_detected_and_zero_policy_zeroes_the_codeword(fmt):
    state = _state(fmt)
    m, k = state.bits, 64
    flips = [3 * k + 5, 3 * k + 40]  # two flips in codeword 3
    clean_bits = _stream(state.flat_codes(), m)
    for policy in ("keep", "zero"):
        read, counts = read_protected(state, FlipAddresses(flips), Protection(ecc="secded64", ecc_policy=policy))
        assert (counts.corrected, counts.detected) == (0, 1)
        got = _stream(read.flat_codes(), m)
        expected = clean_bits.clone()
        if policy == "zero":
            expected[3 * k: 4 * k] = False
        else:
            expected[flips] ^= True
        assert torch.equal(got, expected)


def _stream(words, m):
    from bitrobust.bit_errors import words_to_bits
    return words_to_bits(words.to(torch.int64), m)


def test_check_bits_flip_at_their_layout_addresses():
    """With every data bit protected, only the ECC region can flip: on a chip with at most two flips per
    codeword there, a codeword whose check bits hold one of the chip's flips is corrected and one with two is
    detected, exactly as the chip's flip addresses in the region (layout v2) say; the data reads clean."""
    state = _state("bf16")
    memory = ProtectedMemory(state, Protection(ecc="secded16", protect_tensors="*"))
    *_, ecc = memory.segments
    for chip in range(50):
        errors = RandomBitErrors(0.01, chip=chip)
        flips = errors.flip_addresses(ecc.bit_offset, ecc.stop)
        per_codeword = torch.bincount((flips - ecc.bit_offset) // ecc.bits, minlength=ecc.num_words)
        if int(per_codeword.max()) == 2:
            break
    else:
        pytest.fail("no chip with two flips in some codeword's check bits and never three")
    read, counts = memory.read(errors)
    assert torch.equal(read.flat_codes(), state.flat_codes())
    assert counts.corrected == int((per_codeword == 1).sum()) > 0
    assert counts.detected == int((per_codeword == 2).sum()) > 0


def test_targeting_reads_the_check_bits_clean():
    state = _state("int8")
    memory = ProtectedMemory(state, Protection(ecc="secded64", target_tensors="fc.weight"))
    *_, ecc = memory.segments
    read, counts = memory.read(FlipAddresses([ecc.bit_offset + 3]))  # a check bit: not targeted
    assert torch.equal(read.flat_codes(), state.flat_codes()) and counts.corrected == 0


def test_word_kinds_of_metadata_are_fp16():
    assert METADATA_KIND == WordKind(16, torch.float16, what=METADATA_KIND.what)
    assert Protection(protect_bits="sign,exponent").allowed(METADATA_KIND) == 0x03FF
