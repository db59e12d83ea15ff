"""Where bit error training draws the errors of its perturbed pass (paper 3, Sec. 4.3, 5.3; App. G.5).

RandBET (Alg. 1) draws a fresh random chip every step, seeded from (run seed, global
step), so an uninterrupted run, a resumed run and every data-parallel rank see the same
errors (``random``). PattBET trains on one fixed pattern: a chip of the random chips
that evaluation uses (``pattern``, Tab. 3), or the persistent errors of a synthetic
profiled chip (App. C.1) mapped without offset (``profiled``, Tab. 16). A source in
:data:`TRAINING_ERRORS` is built from the strategy's params and the run seed; it gives
the rate its errors have for a nominal rate p, and the errors of a step.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitrobust.bit_errors import ProfiledBitErrors, RandomBitErrors, paper_chip
from bitrobust.bit_errors.hashing import derive_key
from bitrobust.registry import Registry

#: name -> source class with ``from_params(params, seed)``, ``rate(p)`` and ``errors(step, p)``
TRAINING_ERRORS: Registry[type] = Registry("training error source")

_SEED_SALT = 0x52424554  # "RBET": separates training errors from every other random stream
_SEED_MASK = (1 << 62) - 1


def randbet_seed(seed: int, step: int) -> int:
    """Seed of the random bit errors of global training ``step`` of a run with ``seed``.

    A pure function of (seed, step): an uninterrupted run, a resumed run and every
    data-parallel rank draw the same errors at the same step.

    >>> randbet_seed(0, 5) == randbet_seed(0, 5) != randbet_seed(0, 6)
    True
    """
    return derive_key(_SEED_SALT, int(seed), int(step)) & _SEED_MASK


@TRAINING_ERRORS.register("random")
@dataclass(frozen=True)
class FreshRandomChips:
    """A fresh random chip at rate p every step, seeded from (run ``seed``, global step): RandBET.

    >>> FreshRandomChips(seed=0).errors(5, 0.01).seed == randbet_seed(0, 5)
    True
    """

    seed: int

    @classmethod
    def from_params(cls, params, seed: int) -> FreshRandomChips:
        return cls(seed)

    def rate(self, p: float) -> float:
        return p

    def errors(self, step: int, p: float) -> RandomBitErrors:
        return RandomBitErrors(p, seed=randbet_seed(self.seed, step))


@TRAINING_ERRORS.register("pattern")
@dataclass(frozen=True)
class FixedChip:
    """One chip at rate p, the same every step: PattBET.

    Chip number ``chip`` of the default chips (those evaluation uses), or the chip of
    ``seed`` when given (``params.chip``, ``params.seed``).

    >>> FixedChip(chip=3).errors(0, 0.05).seed == FixedChip(chip=3).errors(99, 0.05).seed
    True
    """

    chip: int = 0
    seed: int | None = None

    @classmethod
    def from_params(cls, params, seed: int) -> FixedChip:
        return cls(params.chip, params.seed)

    def rate(self, p: float) -> float:
        return p

    def errors(self, step: int, p: float) -> RandomBitErrors:
        return RandomBitErrors(p, chip=self.chip, seed=self.seed)


@TRAINING_ERRORS.register("profiled")
class ProfiledPattern:
    """The persistent errors of synthetic profiled chip ``name`` (``PAPER_CHIPS``, drawn with
    ``seed``) at offset 0, every step: PattBET on a profiled chip (Tab. 16). Their rate is
    the chip's, whatever p (``params.profiled``, ``params.seed`` or 0).

    >>> source = ProfiledPattern("chip1_0.866")
    >>> 0.003 < source.rate(0.5) < 0.005 and source.errors(0, 0.5) is source.errors(7, 0.01)
    True
    """

    def __init__(self, name: str, seed: int = 0) -> None:
        chip = paper_chip(name, seed=seed).persistent()
        self.bit_errors = ProfiledBitErrors(chip, offset=0)
        self.chip_rate = min(1.0, float(chip.stats().p))

    @classmethod
    def from_params(cls, params, seed: int) -> ProfiledPattern:
        return cls(params.profiled, seed=params.seed or 0)

    def rate(self, p: float) -> float:
        return self.chip_rate

    def errors(self, step: int, p: float) -> ProfiledBitErrors:
        return self.bit_errors
