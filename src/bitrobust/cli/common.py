"""Argument parsing and checks shared by subcommands: every argument is checked before any work or write."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

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


def _number(text: str, kind: type, ok, expected: str):
    """``text`` as a ``kind`` that satisfies ``ok``, else an argparse error saying what was ``expected``."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type).

    >>> positive_int("3")
    3
    """
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (argparse type)."""
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0 (argparse type)."""
    return _number(text, float, lambda v: 0 < v < math.inf, "a number > 0")


def output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as an output directory, checked before any work and without creating anything: an existing
    non-directory, a file on the way to it, or a nearest existing folder that is not writable is an error.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     output_dir(f"{f.name}/run")
    Traceback (most recent call last):
    bitrobust.errors.BitrobustError: --out .../run: ... is not a directory
    """
    out = Path(path).expanduser()
    if out.exists():
        if not out.is_dir():
            raise BitrobustError(f"{flag} {out} exists and is not a directory")
        existing = out
    else:
        existing = out.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise BitrobustError(f"{flag} {out}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BitrobustError(f"{flag} {out}: {existing} is not writable")
    return out


def data_dir_arg(path: str | None, must_exist: bool = False) -> str | None:
    """--data-dir: None (the default data root) or a folder (``must_exist``: one that exists); a file is an error."""
    if path is None:
        return None
    root = Path(path).expanduser()
    if root.exists() and not root.is_dir():
        raise BitrobustError(f"--data-dir {path} is not a directory")
    if must_exist and not root.exists():
        raise BitrobustError(f"--data-dir {path} does not exist")
    return path
