"""Paired comparisons of two models' robust errors (DESIGN.md contract 8).

Two models evaluated on the same chips (and, for transient errors, the same read seeds)
have paired RErr values: d[s, c] = RErr_A(seed s, chip c) - RErr_B(seed s, chip c). The mean
difference gets a 95% Student-t interval, and the verdict is "A lower" when the whole
interval lies below 0, "B lower" when it lies above 0, else "not resolved".

Which differences are the independent units depends on what varies: with several training
seeds the unit is a seed's mean over its chips (training randomness is the larger source of
variation, and the chips of one model are not independent of its weights), so the interval
has seeds - 1 degrees of freedom; with a single trained model per side the unit is a chip,
and the interval speaks only about those two trained models, not about the training recipes.
Reports say which (``unit``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from bitrobust.errors import BitrobustError

CONFIDENCE = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for x in [0, 1].

    >>> round(incomplete_beta(2.0, 3.0, 0.5), 6)  # 11/16
    0.6875
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom.

    >>> round(t_cdf(0.0, 5), 6), round(t_cdf(12.7062, 1), 4)
    (0.5, 0.975)
    """
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t (bisection on :func:`t_cdf`, to 1e-10).

    >>> round(t_quantile(0.975, 1), 3), round(t_quantile(0.975, 10), 3), round(t_quantile(0.975, 1e6), 2)
    (12.706, 2.228, 1.96)
    """
    if not 0.0 < q < 1.0 or not df > 0:
        raise BitrobustError(f"t quantile needs 0 < q < 1 and df > 0, got q={q}, df={df}")
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < q:
        hi *= 2.0
    while hi - lo > 1e-10 * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_cdf(mid, df) < q else (lo, mid)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class PairedDifference:
    """Mean of RErr_A - RErr_B with its interval [low, high] and the verdict (fractions, not %)."""

    mean: float
    low: float
    high: float
    seeds: int
    chips: int
    unit: str  # "seed" or "chip": what the interval treats as independent
    confidence: float = CONFIDENCE

    @property
    def verdict(self) -> str:
        if self.high < 0:
            return "A lower"
        if self.low > 0:
            return "B lower"
        return "not resolved"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "seeds": self.seeds, "chips": self.chips,
                "unit": self.unit, "confidence": self.confidence, "verdict": self.verdict}


def paired_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]],
                      confidence: float = CONFIDENCE) -> PairedDifference:
    """Compare per-(seed, chip) robust errors ``a[s][c]`` and ``b[s][c]`` of two models (see the module docstring).

    >>> d = paired_difference([[0.10, 0.12, 0.11]], [[0.20, 0.25, 0.21]])
    >>> d.verdict, d.unit, round(d.mean, 4)
    ('A lower', 'chip', -0.11)
    >>> paired_difference([[0.1, 0.3]], [[0.2, 0.2]]).verdict
    'not resolved'
    """
    if len(a) != len(b) or not a:
        raise BitrobustError(f"a paired comparison needs the same training seeds on both sides, got {len(a)} and {len(b)}")
    chips = {len(row) for row in a} | {len(row) for row in b}
    if len(chips) != 1 or 0 in chips:
        raise BitrobustError("a paired comparison needs the same (non-zero) number of chips for every seed and model")
    n_chips = chips.pop()
    diffs = [[x - y for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]
    units = [sum(row) / n_chips for row in diffs] if len(diffs) > 1 else diffs[0]
    unit = "seed" if len(diffs) > 1 else "chip"
    n = len(units)
    mean = sum(units) / n
    if n < 2:
        return PairedDifference(mean, -math.inf, math.inf, len(a), n_chips, unit, confidence)
    sd = math.sqrt(sum((u - mean) ** 2 for u in units) / (n - 1))
    half = t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return PairedDifference(mean, mean - half, mean + half, len(a), n_chips, unit, confidence)
