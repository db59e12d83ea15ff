"""Argument parsing shared by subcommands."""

from __future__ import annotations

import argparse

from bitrobust.errors import BitrobustError

DEFAULT_RATES = "0.0001,0.0005,0.001,0.005,0.01,0.05,0.1,0.15"


def parse_rates(text: str) -> list[float]:
    """Comma-separated bit error rates as fractions ("0.01") or percentages ("1%")."""
    rates = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value = float(item[:-1]) / 100 if item.endswith("%") else float(item)
        except ValueError:
            raise BitrobustError(f"invalid bit error rate {item!r} (use e.g. 0.01 or 1%)") from None
        if not 0.0 <= value <= 1.0:
            raise BitrobustError(f"bit error rate p must be in [0, 1], got {item}")
        rates.append(value)
    if not rates:
        raise BitrobustError("no bit error rates given")
    return rates


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value
