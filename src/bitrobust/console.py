"""Terminal output: progress bars only on a terminal, quiet and verbose modes.

Long work shows a tqdm bar when stderr is a terminal; redirected to a file it shows
nothing but the one-line summaries (a line per epoch, per evaluation), so logs stay
small. ``bitrobust -q`` (or ``-q`` after any subcommand) drops bars and summaries and keeps
results and errors; ``-v`` draws bars even when stderr is not a terminal and prints the
full traceback of an error.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Settings:
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose


SETTINGS = _Settings()


def set_verbosity(verbosity: int) -> None:
    """-1: quiet, 0: normal, 1 or more: verbose (the command line sets it from -q / -v)."""
    SETTINGS.verbosity = max(-1, min(1, int(verbosity)))


def quiet() -> bool:
    return SETTINGS.verbosity < 0


def verbose() -> bool:
    return SETTINGS.verbosity > 0


def bar_disable(enabled: bool = True) -> bool | None:
    """tqdm's ``disable`` argument: off when not ``enabled`` or quiet, forced on when verbose, else
    on only on a terminal (tqdm's None).

    >>> bar_disable(False), bar_disable(True)
    (True, None)
    """
    if not enabled or quiet():
        return True
    return False if verbose() else None


def duration(seconds: float) -> str:
    """``12.3 s``, ``4.5 min`` or ``2.0 h``.

    >>> duration(12.34), duration(270), duration(7200)
    ('12.3 s', '4.5 min', '2.0 h')
    """
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
