"""Profiled chips: mapping with offsets, read semantics, files, statistics, offsets."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.bit_errors.hashing import derive_key, hash_uniform
from bitrobust.bit_errors.profiled import (
    _PURPOSE_READ,
    ProfiledBitErrors,
    ProfiledChip,
    cell_occurrences,
    chip_from_code_map,
    chip_offsets,
    load_chip,
)
from bitrobust.errors import BitrobustError

torch.set_num_threads(1)


def one_cell_chip(rows: int, cols: int, cell: int, direction: str = "0to1") -> ProfiledChip:
    p01 = np.zeros((rows, cols), dtype=bool)
    p10 = np.zeros((rows, cols), dtype=bool)
    (p01 if direction == "0to1" else p10).flat[cell] = True
    return ProfiledChip(p01, p10)


def reference_read(chip: ProfiledChip, offset: int, seed: int, codes: list[int], bits: int, word_offset: int) -> list[int]:
    """Bit-by-bit reference of the read semantics (Python loops, tiny inputs only)."""
    p01, p10 = chip.read_maps()
    p01, p10 = p01.reshape(-1).tolist(), p10.reshape(-1).tolist()
    key = derive_key(seed, _PURPOSE_READ)
    out = []
    for i, w in enumerate(codes):
        for j in range(bits):
            a = (word_offset + i) * bits + j
            c = (a + offset) % chip.num_cells
            stored = (w >> j) & 1
            q = p10[c] if stored else p01[c]
            u = float(hash_uniform(key, torch.tensor([a]))[0])
            if u < q:
                w ^= 1 << j
        out.append(w)
    return out


# ----------------------------------------------------------------------------- mapping


def test_mapping_hand_checked_offset_and_wraparound():
    chip = one_cell_chip(2, 4, cell=5)  # row 1, col 1 flips 0 -> 1; 8 cells
    codes = torch.zeros(3, dtype=torch.uint8)  # 3 words x 4 bits = addresses 0..11
    # offset 0: address 5 -> word 1, bit 1 (address 13 is past the end)
    assert ProfiledBitErrors(chip, 0).apply(codes, 4).tolist() == [0, 2, 0]
    # offset 3: (a + 3) mod 8 == 5 -> a in {2, 10}: word 0 bit 2 and, after wrapping, word 2 bit 2
    assert ProfiledBitErrors(chip, 3).apply(codes, 4).tolist() == [4, 0, 4]
    # negative offsets are taken mod 8: -3 == 5 -> a in {0, 8}
    assert ProfiledBitErrors(chip, -3).apply(codes, 4).tolist() == [1, 0, 1]
    # words stored from word 1 on (addresses 4..15): a in {5, 13} -> word 0 bit 1, word 2 bit 1
    assert ProfiledBitErrors(chip, 0).apply(codes, 4, word_offset=1).tolist() == [2, 0, 2]


def test_mapping_is_row_major():
    chip = one_cell_chip(3, 5, cell=1 * 5 + 2)  # row 1, col 2 -> cell 7
    codes = torch.zeros(2, dtype=torch.uint8)
    assert ProfiledBitErrors(chip).apply(codes, 8).tolist() == [128, 0]


def test_cell_occurrences_matches_brute_force():
    cells = torch.tensor([0, 3, 6])
    for offset in (0, 2, 7, 20):
        for start, stop in ((0, 30), (5, 6), (13, 40), (9, 9)):
            idx, addr = cell_occurrences(cells, offset, 7, start, stop)
            got = sorted(zip(idx.tolist(), addr.tolist()))
            want = sorted((k, a) for a in range(start, stop) for k, c in enumerate(cells.tolist()) if (a + offset) % 7 == c)
            assert got == want


# ----------------------------------------------------------------------------- semantics


def test_zero_to_one_only_flips_zeros():
    g = torch.Generator().manual_seed(0)
    chip = ProfiledChip(torch.rand(16, 8, generator=g), torch.zeros(16, 8))
    codes = torch.randint(0, 256, (500,), dtype=torch.uint8, generator=g)
    out = ProfiledBitErrors(chip, 5, seed=1).apply(codes, 8)
    assert torch.equal(out & codes, codes)  # no 1 became 0
    assert not torch.equal(out, codes)


def test_one_to_zero_only_flips_ones():
    g = torch.Generator().manual_seed(1)
    chip = ProfiledChip(torch.zeros(16, 8), torch.rand(16, 8, generator=g))
    codes = torch.randint(0, 256, (500,), dtype=torch.uint8, generator=g)
    out = ProfiledBitErrors(chip, 7, seed=2).apply(codes, 8)
    assert torch.equal(out | codes, codes)  # no 0 became 1
    assert not torch.equal(out, codes)


def test_always_flipping_cells_complement_and_zero_maps_are_identity():
    ones = torch.ones(4, 4)
    codes = torch.tensor([0, 5, 255, 17], dtype=torch.uint8)
    assert torch.equal(ProfiledBitErrors(ProfiledChip(ones, ones)).apply(codes, 8), 255 - codes)
    zeros = torch.zeros(4, 4)
    assert torch.equal(ProfiledBitErrors(ProfiledChip(zeros, zeros)).apply(codes, 8), codes)


def test_stuck_at_cells_read_their_value_and_override_flip_maps():
    stuck = torch.full((1, 8), -1, dtype=torch.int8)
    stuck[0, 0] = 0
    stuck[0, 1] = 1
    # flip maps say "always flip" everywhere; stuck cells must ignore them
    chip = ProfiledChip(torch.ones(1, 8), torch.ones(1, 8), stuck)
    e = ProfiledBitErrors(chip)
    for w in range(256):
        out = int(e.apply(torch.tensor([w], dtype=torch.uint8), 8)[0])
        assert out & 1 == 0  # stuck at 0
        assert (out >> 1) & 1 == 1  # stuck at 1
        assert out >> 2 == (~w & 0xFF) >> 2  # the others always flip


def test_reads_are_deterministic_per_seed_and_chunking():
    g = torch.Generator().manual_seed(3)
    chip = ProfiledChip(torch.full((8, 16), 0.5), torch.full((8, 16), 0.3))
    codes = torch.randint(0, 16, (200,), dtype=torch.uint8, generator=g)
    e = ProfiledBitErrors(chip, 11, seed=42)
    out = e.apply(codes, 4)
    assert torch.equal(out, e.apply(codes, 4))
    assert torch.equal(out, ProfiledBitErrors(chip, 11, seed=42).apply(codes, 4))
    chunks = torch.cat([e.apply(codes[:77], 4), e.apply(codes[77:], 4, word_offset=77)])
    assert torch.equal(out, chunks)
    assert not torch.equal(out, ProfiledBitErrors(chip, 11, seed=43).apply(codes, 4))


def test_generator_seed_draws_a_fresh_reproducible_read_each_time():
    chip = ProfiledChip(torch.full((4, 8), 0.5), torch.full((4, 8), 0.5))
    codes = torch.zeros(64, dtype=torch.uint8)
    e1 = ProfiledBitErrors(chip, seed=torch.Generator().manual_seed(5))
    e2 = ProfiledBitErrors(chip, seed=torch.Generator().manual_seed(5))
    a, b = e1.apply(codes, 8), e1.apply(codes, 8)
    assert not torch.equal(a, b)
    assert torch.equal(a, e2.apply(codes, 8)) and torch.equal(b, e2.apply(codes, 8))


def test_transient_probability_is_respected():
    chip = ProfiledChip(torch.full((4, 8), 0.25), torch.zeros(4, 8))
    codes = torch.zeros(20000, dtype=torch.uint8)  # 160k reads of stored zeros
    out = ProfiledBitErrors(chip, seed=9).apply(codes, 8)
    rate = sum(int(((out >> k) & 1).sum()) for k in range(8)) / (codes.numel() * 8)
    assert abs(rate - 0.25) < 5 * (0.25 * 0.75 / 160000) ** 0.5


probs = st.sampled_from([0.0, 0.0, 0.0, 1.0, 0.5, 0.125])


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 6),
    data=st.data(),
    bits=st.integers(1, 8),
    offset=st.integers(-50, 50),
    word_offset=st.integers(0, 9),
    seed=st.integers(0, 2**40),
)
def test_apply_matches_bitwise_reference(rows, cols, data, bits, offset, word_offset, seed):
    n = rows * cols
    p01 = torch.tensor(data.draw(st.lists(probs, min_size=n, max_size=n))).view(rows, cols)
    p10 = torch.tensor(data.draw(st.lists(probs, min_size=n, max_size=n))).view(rows, cols)
    stuck = torch.tensor(data.draw(st.lists(st.sampled_from([-1, -1, -1, 0, 1]), min_size=n, max_size=n)), dtype=torch.int8)
    chip = ProfiledChip(p01, p10, stuck.view(rows, cols))
    codes = data.draw(st.lists(st.integers(0, 2**bits - 1), min_size=0, max_size=12))
    t = torch.tensor(codes, dtype=torch.uint8)
    got = ProfiledBitErrors(chip, offset, seed).apply(t, bits, word_offset).tolist()
    assert got == reference_read(chip, offset % n, seed, codes, bits, word_offset)


def test_apply_keeps_shape_and_dtype_and_rejects_float_codes():
    chip = ProfiledChip(torch.ones(2, 2), torch.zeros(2, 2))
    codes = torch.zeros(3, 5, dtype=torch.int64)
    out = ProfiledBitErrors(chip).apply(codes, 2)
    assert out.shape == codes.shape and out.dtype == codes.dtype
    with pytest.raises(BitrobustError):
        ProfiledBitErrors(chip).apply(torch.zeros(3), 2)
    for bits in (0, 33):  # words are 1..32 bits wide (fp32 is the widest format: contract 5)
        with pytest.raises(BitrobustError):
            ProfiledBitErrors(chip).apply(codes, bits)
    with pytest.raises(BitrobustError):
        ProfiledBitErrors(chip, offset=1.5)


# ----------------------------------------------------------------------------- validation and files


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(flip_0to1=np.zeros((2, 3)), flip_1to0=np.zeros((3, 2))),
        dict(flip_0to1=np.full((2, 2), 1.5), flip_1to0=np.zeros((2, 2))),
        dict(flip_0to1=np.full((2, 2), -0.1), flip_1to0=np.zeros((2, 2))),
        dict(flip_0to1=np.full((2, 2), np.nan), flip_1to0=np.zeros((2, 2))),
        dict(flip_0to1=np.zeros(4), flip_1to0=np.zeros(4)),
        dict(flip_0to1=np.zeros((0, 3)), flip_1to0=np.zeros((0, 3))),
        dict(flip_0to1=np.full((2, 2), 2), flip_1to0=np.zeros((2, 2))),
        dict(flip_0to1=np.array([["a", "b"]]), flip_1to0=np.zeros((1, 2))),
        dict(flip_0to1=np.zeros((2, 2)), flip_1to0=np.zeros((2, 2)), stuck_at=np.full((2, 2), 2)),
        dict(flip_0to1=np.zeros((2, 2)), flip_1to0=np.zeros((2, 2)), stuck_at=np.zeros((2, 2))),  # float
        dict(flip_0to1=np.zeros((2, 2)), flip_1to0=np.zeros((2, 2)), stuck_at=np.zeros((1, 2), dtype=np.int8)),
    ],
)
def test_invalid_maps_raise_one_line_errors(kwargs):
    with pytest.raises(BitrobustError) as info:
        ProfiledChip(**kwargs)
    assert "\n" not in str(info.value)


def test_npz_roundtrip_and_stats(tmp_path):
    p01 = np.array([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]], dtype=np.float32)
    p10 = np.array([[0.0, 0.0, 0.25, 1.0], [0.0, 0.0, 1.0, 0.0]], dtype=np.float32)
    stuck = np.array([[-1, -1, -1, -1], [1, -1, -1, 0]], dtype=np.int8)
    chip = ProfiledChip(p01, p10, stuck, name="hand")
    path = chip.save(tmp_path / "chip.npz")
    back = load_chip(path)
    assert back.name == "hand"
    assert torch.equal(back.flip_0to1, chip.flip_0to1) and torch.equal(back.flip_1to0, chip.flip_1to0)
    assert torch.equal(back.stuck_at, chip.stuck_at)
    s = back.stats()
    # effective P01 = [1, .5, 0, 0 | 1, 0, 1, 0]; P10 = [0, 0, .25, 1 | 0, 0, 1, 1]
    assert s.p_0t1 == pytest.approx(3.5 / 8) and s.p_1t0 == pytest.approx(3.25 / 8)
    assert s.p == pytest.approx(6.75 / 8)
    assert s.p_sa == pytest.approx((3 + 3) / 8)
    assert s.faulty == pytest.approx(7 / 8)  # all but cell (1, 1)
    assert s.percent()["p"] == pytest.approx(100 * 6.75 / 8)
    assert [c for c in tmp_path.iterdir()] == [path]  # no temporary files left


def test_npz_with_wrong_shape_or_names_is_refused(tmp_path):
    np.savez(tmp_path / "bad.npz", flip_0to1=np.zeros((4, 8)), flip_1to0=np.zeros((4, 7)))
    with pytest.raises(BitrobustError, match="same shape"):
        load_chip(tmp_path / "bad.npz")
    np.savez(tmp_path / "three_d.npz", flip_0to1=np.zeros((2, 4, 8)), flip_1to0=np.zeros((2, 4, 8)))
    with pytest.raises(BitrobustError, match="2-D"):
        load_chip(tmp_path / "three_d.npz")
    np.savez(tmp_path / "names.npz", flip_0to1=np.zeros((4, 8)), other=np.zeros((4, 8)))
    with pytest.raises(BitrobustError, match="missing"):
        load_chip(tmp_path / "names.npz")


def test_pickled_arrays_are_refused(tmp_path):
    obj = np.empty((2, 2), dtype=object)
    obj[:] = [[{"x": 1}, 0], [0, 0]]
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    with pytest.raises(BitrobustError, match="cannot load"):
        load_chip(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", flip_0to1=obj, flip_1to0=obj)
    with pytest.raises(BitrobustError, match="cannot load"):
        load_chip(tmp_path / "obj.npz")
    (tmp_path / "raw.npy").write_bytes(pickle.dumps(np.zeros((2, 2))))
    with pytest.raises(BitrobustError):
        load_chip(tmp_path / "raw.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BitrobustError):
        load_chip(tmp_path / "junk.npz")
    with pytest.raises(BitrobustError, match="not found"):
        load_chip(tmp_path / "missing.npz")


def test_npy_encodings(tmp_path):
    codes = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    np.save(tmp_path / "codes.npy", codes)
    chip = load_chip(tmp_path / "codes.npy")
    assert chip.flip_0to1.tolist() == [[0, 1], [0, 1]] and chip.flip_1to0.tolist() == [[0, 0], [1, 1]]
    assert chip.name == "codes"
    np.save(tmp_path / "bad_codes.npy", np.array([[0, 4]]))
    with pytest.raises(BitrobustError, match="code map"):
        load_chip(tmp_path / "bad_codes.npy")
    np.save(tmp_path / "bool.npy", np.array([[True, False]]))
    chip = load_chip(tmp_path / "bool.npy")
    assert chip.flip_0to1.tolist() == [[1, 0]] and chip.flip_1to0.tolist() == [[1, 0]]
    np.save(tmp_path / "float.npy", np.array([[0.25, 0.0]]))
    chip = load_chip(tmp_path / "float.npy")
    assert chip.stats().p_0t1 == pytest.approx(0.125) and chip.stats().p == pytest.approx(0.25)
    assert chip_from_code_map(codes).stats().p_sa == pytest.approx(4 / 4)


def test_save_requires_npz_suffix(tmp_path):
    with pytest.raises(BitrobustError, match=".npz"):
        ProfiledChip(np.zeros((1, 1)), np.zeros((1, 1))).save(tmp_path / "chip.npy")


def test_persistent_keeps_only_probability_one_cells():
    chip = ProfiledChip(torch.tensor([[1.0, 0.5]]), torch.tensor([[0.2, 1.0]]), torch.tensor([[-1, 0]], dtype=torch.int8))
    pers = chip.persistent()
    assert pers.flip_0to1.tolist() == [[1.0, 0.0]] and pers.flip_1to0.tolist() == [[0.0, 1.0]]


# ----------------------------------------------------------------------------- offsets


def test_chip_offsets_even_and_random():
    chip = ProfiledChip(np.zeros((16, 8)), np.zeros((16, 8)))
    assert chip_offsets(chip, 4) == [0, 32, 64, 96]
    assert chip_offsets(128, 3, align=8) == [0, 40, 80]
    r = chip_offsets(chip, 10, mode="random", seed=3, align=4)
    assert r == chip_offsets(chip, 10, mode="random", seed=3, align=4)
    assert all(0 <= o < 128 and o % 4 == 0 for o in r)
    assert r != chip_offsets(chip, 10, mode="random", seed=4, align=4)
    with pytest.raises(BitrobustError, match="valid: even, random"):
        chip_offsets(chip, 2, mode="spread")
    with pytest.raises(BitrobustError):
        chip_offsets(chip, 0)
