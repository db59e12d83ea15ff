"""Paired comparisons (contract 8): t quantiles, interval coverage, units and verdicts."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.errors import BitrobustError
from bitrobust.metrics.paired import incomplete_beta, paired_difference, t_cdf, t_quantile

# two-sided 95% and 99% critical values from standard tables
TABLE = {1: (12.706, 63.657), 2: (4.303, 9.925), 4: (2.776, 4.604), 9: (2.262, 3.250), 29: (2.045, 2.756)}


@pytest.mark.parametrize("df", sorted(TABLE))
def test_t_quantiles_match_the_tables(df):
    assert t_quantile(0.975, df) == pytest.approx(TABLE[df][0], abs=1e-3)
    assert t_quantile(0.995, df) == pytest.approx(TABLE[df][1], abs=1e-3)


@given(st.floats(0.1, 20), st.floats(0.1, 20), st.floats(0.001, 0.999))
def test_incomplete_beta_symmetry(a, b, x):
    assert incomplete_beta(a, b, x) == pytest.approx(1 - incomplete_beta(b, a, 1 - x), abs=1e-9)


@given(st.floats(-50, 50), st.integers(1, 60))
def test_t_cdf_is_symmetric_and_inverts(t, df):
    assert t_cdf(t, df) + t_cdf(-t, df) == pytest.approx(1, abs=1e-12)
    q = t_cdf(t, df)
    if 1e-6 < q < 1 - 1e-6:
        assert t_quantile(q, df) == pytest.approx(t, rel=1e-6, abs=1e-6)


def test_the_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = random.Random(0)
    covered, trials = 0, 2000
    for _ in range(trials):
        b = [[rng.gauss(0.30, 0.05) for _ in range(6)]]
        a = [[x + 0.02 + rng.gauss(0, 0.03) for x in b[0]]]  # true difference +0.02
        d = paired_difference(a, b)
        covered += d.low <= 0.02 <= d.high
    assert abs(covered / trials - 0.95) < 0.015  # binomial sd at 2000 trials: 0.005


@settings(max_examples=50)
@given(st.lists(st.lists(st.floats(0, 1), min_size=3, max_size=3), min_size=1, max_size=4), st.floats(-0.5, 0.5))
def test_shifting_one_side_shifts_the_interval(rows, shift):
    b = [[min(1.0, max(0.0, x)) for x in row] for row in rows]
    a = [[x + shift for x in row] for row in b]
    d = paired_difference(a, b)
    assert d.mean == pytest.approx(shift, abs=1e-9)
    assert d.low <= d.mean <= d.high


def test_units_and_verdicts():
    chips = paired_difference([[0.10, 0.11, 0.12]], [[0.20, 0.21, 0.22]])
    assert (chips.unit, chips.seeds, chips.chips, chips.verdict) == ("chip", 1, 3, "A lower")
    # two seeds: the unit is a seed's mean; the seeds disagree, so nothing is resolved
    seeds = paired_difference([[0.10, 0.10], [0.30, 0.30]], [[0.20, 0.20], [0.20, 0.20]])
    assert (seeds.unit, seeds.mean, seeds.verdict) == ("seed", pytest.approx(0.0), "not resolved")
    assert paired_difference([[0.3, 0.31, 0.32], [0.3, 0.3, 0.3]], [[0.1, 0.1, 0.1], [0.1, 0.11, 0.1]]).verdict == "B lower"
    single = paired_difference([[0.1]], [[0.2]])
    assert math.isinf(single.high) and single.verdict == "not resolved"
    assert single.to_dict()["verdict"] == "not resolved"


def test_mismatched_sides_are_errors():
    with pytest.raises(BitrobustError, match="same training seeds"):
        paired_difference([[0.1]], [[0.1], [0.2]])
    with pytest.raises(BitrobustError, match="number of chips"):
        paired_difference([[0.1, 0.2]], [[0.1]])


def test_verdict_thresholds_are_strict_at_zero():
    from bitrobust.metrics.paired import PairedDifference

    def verdict(low, high):
        return PairedDifference((low + high) / 2, low, high, 1, 10, "chip").verdict

    assert verdict(-0.02, -1e-12) == "A lower" and verdict(1e-12, 0.02) == "B lower"
    assert verdict(-0.02, 0.0) == "not resolved" and verdict(0.0, 0.02) == "not resolved"
    assert verdict(-0.01, 0.01) == "not resolved" and verdict(0.0, 0.0) == "not resolved"
    # equal models: every paired difference 0 -> interval [0, 0] -> not resolved
    assert paired_difference([[0.1, 0.2, 0.3]], [[0.1, 0.2, 0.3]]).verdict == "not resolved"
