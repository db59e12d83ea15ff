"""Per-channel and per-group fixed point (contract 5): contract 1 per group, fp16 metadata words."""

from __future__ import annotations

import pytest
import torch

from bitrobust.errors import BitrobustError
from bitrobust.formats import GroupedFixedPoint, decode_float, get_format
from bitrobust.quantization import FixedPointQuantizer


def reference(t, fmt):
    """Contract 1 (FixedPointQuantizer) on every group, in the range its fp16 metadata words give."""
    rows = t.reshape(t.shape[0], -1)
    codes, values = torch.zeros_like(rows, dtype=torch.uint8), torch.zeros_like(rows)
    q = FixedPointQuantizer(fmt.bits, fmt.scheme)
    lv = 2 ** (fmt.bits - 1) - 1
    g = rows.shape[1] if fmt.group is None else fmt.group
    for r in range(rows.shape[0]):
        for k, c0 in enumerate(range(0, rows.shape[1], g)):
            group = rows[r, c0:c0 + g]
            lo, hi = float(group.min()), float(group.max())
            step = float(torch.tensor((hi - lo) / (2 * lv), dtype=torch.float64).to(torch.float16))
            low = float(torch.tensor(lo, dtype=torch.float64).to(torch.float16))
            qt = q.quantize(group, (low, low + 2 * lv * step))
            codes[r, c0:c0 + g], values[r, c0:c0 + g] = qt.codes, qt.dequantize()
    return codes.view(t.shape), values.view(t.shape)


@pytest.mark.parametrize("name,shape", [("int4_g128", (3, 300)), ("int4_g128", (2, 5, 7, 7)), ("int8_channel", (4, 33)),
                                        ("int4_channel", (6,)), ("int8_g128", (2, 128))])
def test_matches_contract_1_applied_per_group(name, shape):
    t = torch.randn(*shape, generator=torch.Generator().manual_seed(1)) * 0.3 + 0.05
    fmt = get_format(name)
    stored = fmt.quantize(t)
    codes, values = reference(t, fmt)
    assert torch.equal(stored.codes, codes)
    assert torch.equal(stored.dequantize(), values)


def test_symmetric_groups_match_contract_1():
    t = torch.randn(3, 10, generator=torch.Generator().manual_seed(2))
    fmt = GroupedFixedPoint("sym", 4, "normal", 4)
    stored = fmt.quantize(t)
    assert stored.metadata.shape == (1, 3, 3)  # one scale per group, no zero point
    q = FixedPointQuantizer(4, "normal")
    for r in range(3):
        for c0 in (0, 4, 8):
            group = t[r, c0:c0 + 4]
            step = float(torch.tensor(float(group.abs().max()) / 7, dtype=torch.float64).to(torch.float16))
            qt = q.quantize(group, (-7 * step, 7 * step))
            assert torch.equal(stored.codes[r, c0:c0 + 4], qt.codes)
            assert torch.equal(stored.dequantize()[r, c0:c0 + 4], qt.dequantize())


def test_hand_computed_groups_with_a_short_last_group():
    # one row of 5 weights, groups of 2: [0, 2], [-1, 1], [3] (short); 2 bits: L = 1, unsigned codes 0..2
    t = torch.tensor([[0.0, 2.0, -1.0, 1.0, 3.0]])
    stored = GroupedFixedPoint("g2", 2, "rquant", 2).quantize(t)
    steps = decode_float(stored.metadata[0], torch.float16)
    minima = decode_float(stored.metadata[1], torch.float16)
    assert steps.tolist() == [[1.0, 1.0, 0.0]]  # (q_max - q_min) / (2 L)
    assert minima.tolist() == [[0.0, -1.0, 3.0]]
    assert stored.codes.tolist() == [[0, 2, 0, 2, 1]]  # a constant group sits at code L = 1 (z = 0)
    assert stored.dequantize().tolist() == t.tolist()
    # flipping the sign bit of the second group's minimum moves that group only: q_min -1 -> +1
    words = stored.metadata.clone()
    words[1, 0, 1] ^= 1 << 15
    assert stored.with_metadata(words).dequantize().tolist() == [[0.0, 2.0, 1.0, 3.0, 3.0]]


def test_metadata_words_are_saturated_fp16():
    t = torch.tensor([[0.0, 1e6]])
    stored = get_format("int8_channel").quantize(t)
    assert decode_float(stored.metadata, torch.float16).isfinite().all()
    assert stored.dequantize().isfinite().all()


def test_bad_settings():
    with pytest.raises(BitrobustError, match="bits in 2..8"):
        GroupedFixedPoint("x", 1)
    with pytest.raises(BitrobustError, match="group size"):
        GroupedFixedPoint("x", 4, group=0)
    with pytest.raises(BitrobustError, match="unknown number format 'int4_g12'; valid: .*int4_g128"):
        get_format("int4_g12")
