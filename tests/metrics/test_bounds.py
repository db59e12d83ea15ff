"""Prop. 1 of paper 3 (App. C.2): hand-computed values, the paper's G.6 numbers, and the inverse relation."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.errors import BitrobustError
from bitrobust.metrics.bounds import (
    bound_applies,
    deviation_probability,
    excess_term,
    rerr_upper_bound,
)


def test_paper_g6_numbers():
    # App. C.2 / G.6: n = 10^4 (CIFAR-10 test set), l = 10^6 chips, 99% confidence -> 4.1%;
    # n = 10^5 -> 1.7%.
    assert round(100 * excess_term(10**4, 10**6, 0.01), 1) == 4.1
    assert round(100 * excess_term(10**5, 10**6, 0.01), 1) == 1.7
    # Reading check: "delta = 0.99" taken literally would give 3.3%, not 4.1%.
    assert round(100 * excess_term(10**4, 10**6, 0.99), 1) == 3.3


def test_hand_computed_excess():
    # n = 4, l = 9, delta = 0.2: sqrt(ln(5 / 0.2) / 4) * (3 + 2) / 3 = sqrt(3.2188758 / 4) * 5 / 3
    assert excess_term(4, 9, 0.2) == pytest.approx(0.8970613 * 5 / 3, rel=1e-6)
    # n = 10^4, l = 50 (the paper's main tables): 0.0371695 * (7.0710678 + 100) / 7.0710678 = 0.56282
    assert excess_term(10**4, 50) == pytest.approx(0.0371695 * 15.142136, rel=1e-5)


def test_hand_computed_deviation_probability():
    # n = 4, l = 9: (n + 1) exp(-n l eps^2 / (sqrt(l) + sqrt(n))^2) = 5 exp(-36 eps^2 / 25)
    assert deviation_probability(2.0, 4, 9) == pytest.approx(5 * math.exp(-5.76), rel=1e-12)
    assert deviation_probability(2.0, 4, 9) == pytest.approx(0.0157556, rel=1e-5)
    assert deviation_probability(1.0, 4, 9) == 1.0  # 5 exp(-1.44) = 1.18, capped
    assert deviation_probability(0.0, 10, 10) == 1.0


def test_upper_bound_adds_excess_and_caps_at_one():
    assert rerr_upper_bound(0.05, 10**4, 10**6) == pytest.approx(0.05 + 0.0408863, abs=1e-7)
    assert rerr_upper_bound(0.9, 10**4, 50) == 1.0
    assert rerr_upper_bound(0.0, 10**4, 10**6, delta=0.05) == excess_term(10**4, 10**6, 0.05)


def test_many_chips_limit_is_plain_hoeffding_over_examples():
    # l -> infinity: (sqrt(l) + sqrt(n)) / sqrt(l) -> 1
    n, delta = 10**4, 0.01
    assert excess_term(n, 10**14, delta) == pytest.approx(math.sqrt(math.log((n + 1) / delta) / n), rel=1e-5)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 10**6),
    l=st.integers(1, 10**6),
    delta=st.floats(1e-6, 0.5),
)
def test_second_form_is_the_inverse_of_the_first(n, l, delta):
    eps = excess_term(n, l, delta)
    assert deviation_probability(eps, n, l) == pytest.approx(delta, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 10**5), l=st.integers(1, 10**5), delta=st.floats(1e-4, 0.5))
def test_excess_shrinks_with_more_chips_and_more_confidence_costs(n, l, delta):
    assert excess_term(n, l + 1, delta) < excess_term(n, l, delta)
    assert excess_term(n, l, delta / 2) > excess_term(n, l, delta)


@pytest.mark.parametrize(
    "call",
    [
        lambda: excess_term(0, 10),
        lambda: excess_term(10, 0),
        lambda: excess_term(10, 10, 0.0),
        lambda: excess_term(10, 10, 1.0),
        lambda: excess_term(10.5, 10),
        lambda: rerr_upper_bound(1.5, 10, 10),
        lambda: rerr_upper_bound(float("nan"), 10, 10),
        lambda: deviation_probability(-0.1, 10, 10),
    ],
)
def test_invalid_inputs_raise_one_line_errors(call):
    with pytest.raises(BitrobustError) as info:
        call()
    assert "\n" not in str(info.value)


def test_bound_applies_only_to_iid_patterns():
    assert bound_applies("random") and bound_applies("transient") and bound_applies("linf")
    assert not bound_applies("profiled")
