"""Evaluation with number formats (contract 5): NaN-producing flips evaluate, non-finite fractions reported."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.evaluation.sweep import SweepSettings
from bitrobust.evaluation.robustness import RobustnessResult, evaluate_robustness
from bitrobust.formats import get_format
from bitrobust.injection.weights import faulty_copy


class ExponentFlips:
    """Flips the exponent bits of every fp16 word that are 0 (all ones: inf, or NaN if the mantissa is not 0)."""

    def apply(self, codes, bits, word_offset=0, *, bit_offset=None):
        return codes ^ (~codes & 0x7C00)


def model_and_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(20, 8, generator=g), torch.randint(0, 3, (20,), generator=g)) for _ in range(3)]
    return model, data


def test_a_model_with_nan_producing_flips_evaluates_without_warnings():
    model, data = model_and_data()
    fmt = get_format("fp16")
    faulty = faulty_copy(model, fmt, ExponentFlips())
    assert not torch.isfinite(faulty[0].weight).all()  # the flips did produce inf/NaN weights
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate_robustness(model, data, fmt, [0.0, 0.5], chips=2)
    r = result.rate(0.5)
    assert result.format == "fp16" and result.bits == 16
    assert all(0.0 <= f <= 1.0 for f in r.nonfinite) and all(e >= f for e, f in zip(r.rerr, r.nonfinite))
    assert result.rate(0.0).nonfinite == (0.0, 0.0)
    d = result.to_dict()
    assert d["format"] == "fp16" and len(d["rates"][1]["nonfinite"]) == 2
    assert RobustnessResult.from_dict(d) == result


def test_non_finite_outputs_count_as_wrong_and_are_counted():
    model, data = model_and_data()

    class NaNChip:
        def apply(self, codes, bits, word_offset=0, *, bit_offset=None):
            return codes | (0x7E00 if bits == 16 else 0)  # every weight a NaN pattern

    class Source:
        name, trials = "nan", 1

        def errors(self, trial, p):
            return NaNChip()

    result = evaluate_robustness(model, data, get_format("fp16"), [0.1], Source())
    assert result.rate(0.1).rerr == (1.0,) and result.rate(0.1).nonfinite == (1.0,)


def test_contract_1_results_keep_their_files():
    model, data = model_and_data()
    d = evaluate_robustness(model, data, get_format("int8"), [0.01], chips=2).to_dict()
    assert "format" not in d and "nonfinite" not in d["rates"][0]


def test_sweep_settings_take_a_format_and_check_it():
    s = SweepSettings(kind="random", rates=(0.01,), format="int4_g128")
    assert s.to_dict()["format"] == "int4_g128"
    assert "format" not in SweepSettings(kind="random", rates=(0.01,)).to_dict()  # hashes of plain settings stay
    with pytest.raises(BitrobustError, match="unknown number format 'bf17'"):
        SweepSettings(kind="random", rates=(0.01,), format="bf17")
    with pytest.raises(BitrobustError, match="not both"):
        SweepSettings(kind="random", rates=(0.01,), format="bf16", bits=4)
    with pytest.raises(BitrobustError, match="linf"):
        SweepSettings(kind="linf", rates=(0.01,), format="bf16")
