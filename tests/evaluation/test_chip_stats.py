"""Per-chip statistics stay defined for huge finite values (perplexities after a flipped float exponent)."""

import math

from bitrobust.evaluation.robustness import chip_stats


def test_huge_finite_values_give_an_infinite_std_not_an_error():
    mean, std, lo, hi = chip_stats([1e200, 3e200])
    assert mean == 2e200 and math.isinf(std) and (lo, hi) == (1e200, 3e200)
    assert chip_stats([1.0, 3.0]) == (2.0, 1.0, 1.0, 3.0)
