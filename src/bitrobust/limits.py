"""Allocation limits: sizes that a file header or a model argument implies are checked before anything is allocated.

A chip map whose header claims 10^12 cells or a model built with ``width: 1e6`` would otherwise end in a
memory error (or the kernel's out-of-memory killer) after minutes; :func:`check_allocation` refuses such a size
with a one-line :class:`~bitrobust.errors.BitrobustError` first: more than :data:`MAX_ELEMENTS` elements, or
more bytes than the machine has memory available.
"""

from __future__ import annotations

import os

from bitrobust.errors import BitrobustError

#: The most elements one allocation implied by a file or an argument may have (2^31, about 8 GiB of float32).
MAX_ELEMENTS = 2**31


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable, else the physical memory; None: unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def check_allocation(elements: int, nbytes: int, what: str) -> None:
    """Refuse ``elements`` elements taking ``nbytes`` bytes for ``what`` if they exceed the limits.

    >>> check_allocation(1000, 4000, "a map")
    >>> check_allocation(10**12, 4 * 10**12, "chip map x.npy")
    Traceback (most recent call last):
    bitrobust.errors.BitrobustError: chip map x.npy: 1,000,000,000,000 elements (4,000,000,000,000 bytes) is more than the limit of 2,147,483,648 elements
    """
    if elements > MAX_ELEMENTS:
        raise BitrobustError(f"{what}: {elements:,} elements ({nbytes:,} bytes) is more than the limit of "
                             f"{MAX_ELEMENTS:,} elements")
    available = available_memory()
    if available is not None and nbytes > available:
        raise BitrobustError(f"{what}: {elements:,} elements need {nbytes:,} bytes, more than the {available:,} "
                             "bytes of memory available")
