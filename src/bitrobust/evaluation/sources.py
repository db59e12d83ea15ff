"""Where the bit errors of an evaluation come from: random chips, transient reads, profiled maps.

A source has a number of *trials* (chips, fresh reads, or offsets into a profiled
chip) and gives, for trial i and rate p, an error model with
``apply(codes, bits, word_offset)``. The same source gives the same errors for every
model and every rate, so robustness numbers are comparable (contract 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bitrobust.bit_errors import RandomBitErrors
from bitrobust.bit_errors.hashing import derive_key
from bitrobust.bit_errors.profiled import ProfiledBitErrors, ProfiledChip
from bitrobust.quantization.model import ErrorModel


class ErrorSource(Protocol):
    name: str
    trials: int

    def errors(self, trial: int, p: float) -> ErrorModel: ...


@dataclass(frozen=True)
class RandomChips:
    """The fixed persistent chips ``first, first + 1, ...`` (paper 3: 50 chips, seeds fixed)."""

    trials: int = 50
    first: int = 0
    name: str = "random"

    def errors(self, trial: int, p: float) -> RandomBitErrors:
        return RandomBitErrors(p, chip=self.first + trial)


@dataclass(frozen=True)
class TransientReads:
    """Fresh i.i.d. flips per trial (one read of the memory each), reproducible from ``seed``."""

    trials: int = 50
    seed: int = 0
    name: str = "transient"

    def errors(self, trial: int, p: float) -> RandomBitErrors:
        # A read at rate p is a chip nobody has seen before: a fresh seed per (trial, p).
        return RandomBitErrors(p, seed=derive_key(self.seed, trial, hash(float(p))) & ((1 << 62) - 1))


@dataclass(frozen=True)
class ProfiledOffsets:
    """A profiled (or synthetic) chip map read at several weight-to-memory offsets (App. C.1, G.5).

    The chip map fixes the errors, so the rate p passed to :meth:`errors` is ignored;
    :attr:`rate` is the chip's own bit error rate p (its ``stats().p``) for reports.
    """

    chip: ProfiledChip
    offsets: tuple[int, ...]
    seed: int = 0
    name: str = "profiled"

    @property
    def trials(self) -> int:
        return len(self.offsets)

    @property
    def rate(self) -> float:
        return min(1.0, float(self.chip.stats().p))  # p = p_0t1 + p_1t0 counts a two-way cell twice

    def errors(self, trial: int, p: float) -> ProfiledBitErrors:
        return ProfiledBitErrors(self.chip, offset=self.offsets[trial], seed=self.seed)
