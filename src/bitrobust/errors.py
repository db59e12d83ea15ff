"""User-facing errors.

Anything a user can cause with bad input (a rate outside [0, 1], an unknown scheme
name, a corrupt checkpoint, missing data) raises :class:`BitrobustError` with a
one-line message. The CLI prints that line and exits non-zero instead of showing a
traceback.
"""


class BitrobustError(Exception):
    """An error caused by user input, reported as one line without a traceback."""
