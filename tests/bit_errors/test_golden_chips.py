"""Golden chips: the faulty bits of fixed chips, pinned so that no refactor changes a chip silently.

``golden/chip0_p1.json`` holds, for 4096 8-bit words (32768 bit addresses):

- ``random``: the sorted faulty bit addresses of the default chips 0 and 1 at p = 1%
  (``RandomBitErrors(0.01, chip=c).flip_addresses(0, 32768)``, paper 3 Sec. 3);
- ``synthetic``: the faulty cells of a small column-aligned synthetic chip with chip 2's
  rates (``paper_chip("chip2_1.01", rows=64, cols=128)``, App. C.1; chip 2's voltage
  p = 1.01 of the one physical chip that seed 0 fixes for all of chip 2's rows) as row-major cell
  index -> [P01, P10], and the bit addresses a profiled read with read seed 0 flips in
  all-0 and all-1 words (``ProfiledBitErrors(chip, offset=1000)``, transient cells drawn).

A mismatch means chips changed: every robustness number computed before would no
longer be reproducible. If (and only if) that is intended, regenerate the file with

    BITROBUST_UPDATE_GOLDEN=1 python -m pytest tests/bit_errors/test_golden_chips.py

and say so in the commit message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from bitrobust.bit_errors import ProfiledBitErrors, RandomBitErrors, paper_chip

GOLDEN = Path(__file__).parent / "golden" / "chip0_p1.json"
WORDS, BITS, RATE = 4096, 8, 0.01


def _random_chip(chip: int) -> list[int]:
    return torch.sort(RandomBitErrors(RATE, chip=chip).flip_addresses(0, WORDS * BITS)).values.tolist()


def _synthetic() -> dict:
    chip = paper_chip("chip2_1.01", rows=64, cols=128)
    faults = chip.faults()
    read = ProfiledBitErrors(chip, offset=1000, seed=0)
    zeros = torch.zeros(WORDS, dtype=torch.uint8)
    return {
        "chip": 'paper_chip("chip2_1.01", rows=64, cols=128), seed 0',
        "faulty_cells": {
            str(c): [p01, p10] for c, p01, p10 in zip(faults.cells.tolist(), faults.p01.tolist(), faults.p10.tolist())
        },
        "read": "ProfiledBitErrors(chip, offset=1000, seed=0).flip_addresses(codes, 8)",
        "read_zeros": torch.sort(read.flip_addresses(zeros, BITS)).values.tolist(),
        "read_ones": torch.sort(read.flip_addresses(zeros + 255, BITS)).values.tolist(),
    }


def current() -> dict:
    return {
        "words": WORDS,
        "bits": BITS,
        "p": RATE,
        "random": {f"chip{c}": _random_chip(c) for c in (0, 1)},
        "synthetic": _synthetic(),
    }


def _dump(obj, depth: int = 0) -> str:
    """JSON with one line per list (small and diffable)."""
    if isinstance(obj, dict):
        pad = "  " * (depth + 1)
        items = ",\n".join(f"{pad}{json.dumps(k)}: {_dump(v, depth + 1)}" for k, v in obj.items())
        return "{\n" + items + "\n" + "  " * depth + "}"
    return json.dumps(obj)


def test_chips_match_the_golden_file():
    got = current()
    if os.environ.get("BITROBUST_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(_dump(got) + "\n")
        pytest.skip(f"regenerated {GOLDEN}")
    want = json.loads(GOLDEN.read_text())
    assert got["random"] == want["random"], "default chips changed (see this file's docstring)"
    assert got["synthetic"] == want["synthetic"], "synthetic chips or profiled reads changed"
    assert got == want


def test_golden_file_has_the_expected_size():
    want = json.loads(GOLDEN.read_text())
    for c in ("chip0", "chip1"):
        n = len(want["random"][c])
        assert abs(n - WORDS * BITS * RATE) < 5 * (WORDS * BITS * RATE) ** 0.5, (c, n)
    assert want["synthetic"]["faulty_cells"] and want["synthetic"]["read_zeros"] and want["synthetic"]["read_ones"]
