"""Confidence bound on the expected robust error from n test examples and l chips (paper 3, App. C.2).

RErr averages the 0-1 error over n i.i.d. test examples and l i.i.d. bit error patterns
(chips). Proposition 1 bounds how far the true expected robust error P(f(x; w') != y)
can lie above that average: Hoeffding over the l patterns for each example (union bound
over the n examples), plus Hoeffding over the n examples, with the slack split so both
exponents are equal. The paper reports the excess term for n = 10^4 test examples and
l = 10^6 chips as 4.1% at 99% confidence (App. C.2, G.6).

Reading of the (garbled) statement, re-derived from the proof in App. C.2:

    P(RErr_emp - RErr_true >= eps) <= n exp(-l a^2 eps^2) + exp(-n (1 - a)^2 eps^2)

Equal exponents, l a^2 = n (1 - a)^2, give a = sqrt(n) / (sqrt(l) + sqrt(n)) (the paper
prints sqrt(n)/sqrt(1 + sqrt(n)), a typo) and

    P(...) <= (n + 1) exp(-n eps^2 l / (sqrt(l) + sqrt(n))^2)            (first form)

Setting the right side to delta and solving for eps gives the second form: with
probability at least 1 - delta,

    P(f(x; w') != y) < RErr_emp + sqrt(log((n + 1) / delta) / n) (sqrt(l) + sqrt(n)) / sqrt(l).

The paper's Hoeffding terms omit the usual factor 2 in the exponent (exp(-2 t eps^2) for
[0, 1] variables); that makes the bound looser but still valid, and it is what gives the
paper's 4.1% and 1.7%, so it is kept here. The bound assumes i.i.d. bit error patterns
(random or transient chips); it does not apply to offsets into one profiled chip.
"""

from __future__ import annotations

import math

from bitrobust.errors import BitrobustError

DEFAULT_DELTA = 0.01  # 99% confidence, as in App. G.6


def _check_counts(n: int, l: int) -> None:
    for name, v in (("n (test examples)", n), ("l (chips / bit error patterns)", l)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise BitrobustError(f"{name} must be a positive integer, got {v!r}")


def _check_delta(delta: float) -> float:
    delta = float(delta)
    if not 0.0 < delta < 1.0:
        raise BitrobustError(f"delta (1 - confidence level) must be in (0, 1), got {delta}")
    return delta


def excess_term(n: int, l: int, delta: float = DEFAULT_DELTA) -> float:
    """eps(n, l, delta) = sqrt(log((n + 1) / delta) / n) * (sqrt(l) + sqrt(n)) / sqrt(l).

    The margin by which the expected robust error may exceed the empirical RErr, with
    probability at least 1 - delta (Prop. 1, second form). n = 10^4, l = 10^6,
    delta = 0.01 gives 0.0409 (the paper's 4.1%).
    """
    _check_counts(n, l)
    delta = _check_delta(delta)
    return math.sqrt(math.log((n + 1) / delta) / n) * (math.sqrt(l) + math.sqrt(n)) / math.sqrt(l)


def rerr_upper_bound(rerr_mean: float, n: int, l: int, delta: float = DEFAULT_DELTA) -> float:
    """Upper confidence bound (level 1 - delta) on the expected robust error (fractions, not %).

    ``rerr_mean`` is the empirical RErr: the error averaged over n test examples and l
    chips, i.e. RateResult.mean. Returns min(1, rerr_mean + excess_term(n, l, delta));
    capping at 1 keeps the bound valid, since an error rate never exceeds 1.
    """
    rerr_mean = float(rerr_mean)
    if math.isnan(rerr_mean) or not 0.0 <= rerr_mean <= 1.0:
        raise BitrobustError(f"RErr must be a fraction in [0, 1], got {rerr_mean}")
    return min(1.0, rerr_mean + excess_term(n, l, delta))


def deviation_probability(eps: float, n: int, l: int) -> float:
    """Bound on P(RErr_emp - RErr_true >= eps) = min(1, (n + 1) exp(-n l eps^2 / (sqrt(l) + sqrt(n))^2)).

    Prop. 1, first form. It is the inverse of :func:`excess_term`:
    deviation_probability(excess_term(n, l, delta), n, l) == delta.
    """
    _check_counts(n, l)
    eps = float(eps)
    if math.isnan(eps) or eps < 0:
        raise BitrobustError(f"eps must be >= 0, got {eps}")
    exponent = -n * l * eps**2 / (math.sqrt(l) + math.sqrt(n)) ** 2
    return min(1.0, (n + 1) * math.exp(exponent))


def bound_applies(source: str) -> bool:
    """Whether Prop. 1 holds for results from this error source (i.i.d. bit error patterns).

    Random persistent chips and transient errors draw i.i.d. patterns; the offsets into
    one profiled chip map (``profiled``) do not, and neither does anything unknown.
    """
    return source in ("random", "transient", "linf")
