"""The error sources of bit error training: fresh random chips (RandBET), a fixed chip and a
profiled chip's persistent errors (PattBET), registered by name."""

from __future__ import annotations

import pytest
import torch

from bitrobust.bit_errors import ProfiledBitErrors, RandomBitErrors, paper_chip
from bitrobust.errors import BitrobustError
from bitrobust.training import STRATEGIES, TRAINING_ERRORS, QuantSection, StepContext, StrategySection
from bitrobust.training.error_sources import FixedChip, FreshRandomChips, ProfiledPattern, randbet_seed


def test_registered_names():
    assert TRAINING_ERRORS.names() == ["pattern", "profiled", "random"]
    with pytest.raises(BitrobustError, match="unknown training error source 'x'; valid: pattern, profiled, random"):
        TRAINING_ERRORS.get("x")


@pytest.mark.parametrize(
    "name, params, source",
    [
        ("randbet", {"p": 0.05}, FreshRandomChips),
        ("curricular_randbet", {"p": 0.05}, FreshRandomChips),
        ("alternating_randbet", {"p": 0.05}, FreshRandomChips),
        ("pattbet", {"p": 0.05, "chip": 2}, FixedChip),
        ("pattbet", {"profiled": "chip1_0.866"}, ProfiledPattern),
    ],
)
def test_each_strategy_draws_from_its_source(name, params, source):
    model = torch.nn.Linear(4, 2)
    strategy = STRATEGIES.get(name)(StrategySection(name=name, params=params))
    strategy.setup(StepContext(model, torch.optim.SGD(model.parameters(), lr=0.1), quant=QuantSection(), seed=4))
    assert isinstance(strategy.source, source)


def test_sources_give_the_errors_of_a_step():
    codes = torch.randint(0, 256, (5000,), dtype=torch.uint8)
    fresh = FreshRandomChips(seed=4)
    assert fresh.rate(0.02) == 0.02
    assert torch.equal(fresh.errors(3, 0.02).apply(codes, 8), RandomBitErrors(0.02, seed=randbet_seed(4, 3)).apply(codes, 8))
    assert not torch.equal(fresh.errors(3, 0.02).apply(codes, 8), fresh.errors(4, 0.02).apply(codes, 8))
    fixed = FixedChip(chip=2)
    assert torch.equal(fixed.errors(0, 0.02).apply(codes, 8), fixed.errors(9, 0.02).apply(codes, 8))
    assert torch.equal(fixed.errors(0, 0.02).apply(codes, 8), RandomBitErrors(0.02, chip=2).apply(codes, 8))
    profiled = ProfiledPattern("chip1_0.866", seed=1)
    persistent = paper_chip("chip1_0.866", seed=1).persistent()
    assert profiled.rate(0.5) == min(1.0, float(persistent.stats().p))
    assert torch.equal(profiled.errors(5, 0.5).apply(codes, 8), ProfiledBitErrors(persistent, offset=0).apply(codes, 8))
