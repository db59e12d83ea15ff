"""Synthetic profiled chips with the statistics of App. C.1's table (paper 3, Fig. 3, Fig. 8, App. C.1).

The measured chip maps of the paper are not public, so these generators draw
:class:`~bitrobust.bit_errors.profiled.ProfiledChip` maps with the same key rates
p_0t1, p_1t0 (0->1 and 1->0 flips) and p_sa (persistent errors): faults spread
uniformly over the array (chip 1, Fig. 3 left) or concentrated on a few "weak"
columns (chips 2 and 3, Fig. 3 right, strongly column-aligned with a 0->1 bias).

Cell model (all rates are fractions of cells; the paper's table is in %):

- every faulty cell fails in one direction only; a **persistent** faulty cell flips
  that way on every read (probability 1), a **transient** one with probability
  ``transient_prob`` (q_t, default 0.5);
- the persistent rate p_sa is split over the directions in proportion to their rates:
  sa_0t1 = p_sa p_0t1 / (p_0t1 + p_1t0), sa_1t0 = p_sa p_1t0 / (p_0t1 + p_1t0);
- the transient-faulty fraction of direction d is t_d = (p_d - sa_d) / q_t, so the
  expected mean flip probability is sa_d + q_t t_d = p_d exactly, and the fraction of
  faulty cells is f = sa_0t1 + sa_1t0 + t_0t1 + t_1t0;
- cell c of column k is faulty iff u1(c) < f m_k, where m_k is the column's
  multiplier (mean over columns = 1), and its kind (persistent/transient, direction)
  is drawn from u2(c) with the proportions above. u1, u2 are hash-based uniforms of
  (seed, c), so a chip is a pure function of its settings and seed (any torch
  version), and for one seed the faulty cells at lower rates are a subset of those at
  higher rates (errors "inherited" across voltages, Fig. 3).

Column model (``column_aligned``): n_w = max(1, round(weak_fraction cols)) weak
columns are drawn from the seed; a fraction ``concentration`` (c) of the faults falls
in them: m_weak = c cols / n_w + (1 - c), m_strong = 1 - c. Requires f m_weak <= 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Mapping

import torch

from bitrobust.bit_errors.hashing import derive_key, hash_uniform, int_seed
from bitrobust.bit_errors.profiled import ProfiledChip
from bitrobust.errors import BitrobustError

LAYOUTS = ("uniform", "column_aligned")
_PURPOSE_COLUMNS, _PURPOSE_FAULT, _PURPOSE_KIND = 0x434F4C, 0x464C54, 0x4B4E44


def _fraction(x: float, what: str) -> float:
    x = float(x)
    if math.isnan(x) or not 0.0 <= x <= 1.0:
        hint = f" (rates are fractions: did you mean {x}% = {x / 100:g}?)" if 1.0 < x <= 100.0 else ""
        raise BitrobustError(f"{what} must be a fraction in [0, 1], got {x}{hint}")
    return x


@dataclass(frozen=True)
class SyntheticChipSpec:
    """Settings of a synthetic chip (rates as fractions; see the module docstring).

    >>> spec = SyntheticChipSpec(64, 32, p_0t1=0.01, p_1t0=0.005, p_sa=0.006)
    >>> spec.kind_rates(), spec.faulty_fraction
    ((0.004, 0.002, 0.012, 0.006), 0.024)
    """

    rows: int
    cols: int
    p_0t1: float
    p_1t0: float
    p_sa: float
    layout: str = "uniform"
    weak_fraction: float = 0.1
    concentration: float = 0.9
    transient_prob: float = 0.5

    def __post_init__(self) -> None:
        for what in ("rows", "cols"):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise BitrobustError(f"{what} must be a positive integer, got {v!r}")
        if self.layout not in LAYOUTS:
            raise BitrobustError(f"unknown chip layout {self.layout!r}; valid: {', '.join(LAYOUTS)}")
        for what in ("p_0t1", "p_1t0", "p_sa", "weak_fraction", "concentration", "transient_prob"):
            object.__setattr__(self, what, _fraction(getattr(self, what), what))
        if self.p_sa > self.p_0t1 + self.p_1t0 + 1e-12:
            raise BitrobustError(
                f"p_sa ({self.p_sa}) is the persistent part of p and cannot exceed p_0t1 + p_1t0 ({self.p_0t1 + self.p_1t0})"
            )
        if not 0.0 < self.transient_prob < 1.0:
            raise BitrobustError(f"transient_prob must be in (0, 1), got {self.transient_prob}")
        if self.layout == "column_aligned" and self.weak_fraction <= 0.0:
            raise BitrobustError("weak_fraction must be > 0 for a column-aligned chip")
        worst = self.faulty_fraction * max(self.column_multipliers())
        if worst > 1.0:
            raise BitrobustError(
                f"rates too high for this layout: the most faulty columns would need {worst:.3g} > 1 of their cells "
                "faulty; lower concentration, raise weak_fraction or transient_prob"
            )

    # -- derived rates (formulas of the module docstring)
    def kind_rates(self) -> tuple[float, float, float, float]:
        """(sa_0t1, sa_1t0, t_0t1, t_1t0): fractions of cells per fault kind."""
        total = self.p_0t1 + self.p_1t0
        if total == 0.0:
            return (0.0, 0.0, 0.0, 0.0)
        sa01 = min(self.p_sa * self.p_0t1 / total, self.p_0t1)
        sa10 = min(self.p_sa * self.p_1t0 / total, self.p_1t0)
        q = self.transient_prob
        return (sa01, sa10, (self.p_0t1 - sa01) / q, (self.p_1t0 - sa10) / q)

    @property
    def faulty_fraction(self) -> float:
        """f: the expected fraction of faulty cells."""
        return sum(self.kind_rates())

    @property
    def num_weak(self) -> int:
        return min(self.cols, max(1, round(self.weak_fraction * self.cols)))

    def column_multipliers(self) -> tuple[float, float]:
        """(m_weak, m_strong); both 1 for the uniform layout."""
        if self.layout == "uniform":
            return (1.0, 1.0)
        c = self.concentration
        return (c * self.cols / self.num_weak + (1.0 - c), 1.0 - c)


def weak_columns(spec: SyntheticChipSpec, seed: int) -> torch.Tensor:
    """The weak columns of a column-aligned chip: the n_w columns with the smallest hash of (seed, column).

    >>> weak_columns(SyntheticChipSpec(64, 32, 0.01, 0.005, 0.006, "column_aligned"), seed=0).tolist()
    [12, 15, 30]
    """
    cols = torch.arange(spec.cols, dtype=torch.int64)
    order = torch.argsort(hash_uniform(derive_key(seed, _PURPOSE_COLUMNS), cols), stable=True)
    return torch.sort(order[: spec.num_weak]).values


def synthetic_chip(spec: SyntheticChipSpec, seed: int | torch.Generator = 0, name: str | None = None) -> ProfiledChip:
    """Draw a chip from ``spec`` (cell model in the module docstring).

    >>> synthetic_chip(SyntheticChipSpec(64, 32, p_0t1=0.01, p_1t0=0.005, p_sa=0.006), seed=0)
    ProfiledChip(name='uniform(seed=0)', rows=64, cols=32, p=1.6113%, p_0t1=1.0498%, p_1t0=0.5615%, p_sa=0.4395%)
    """
    seed = int_seed(seed)
    n = spec.rows * spec.cols
    cells = torch.arange(n, dtype=torch.int64)
    col_mult = torch.ones(spec.cols, dtype=torch.float64)
    if spec.layout == "column_aligned":
        m_weak, m_strong = spec.column_multipliers()
        col_mult.fill_(m_strong)
        col_mult[weak_columns(spec, seed)] = m_weak
    f = spec.faulty_fraction
    # faulty iff u1(c) < f m_col(c)   (u1 does not depend on the rates: nested across rates)
    faulty = hash_uniform(derive_key(seed, _PURPOSE_FAULT), cells) < f * col_mult[cells % spec.cols]
    p01 = torch.zeros(n, dtype=torch.float32)
    p10 = torch.zeros(n, dtype=torch.float32)
    if f > 0.0:
        # kind from u2(c): [0, sa01) [sa01, +sa10) [.., +t01) [.., 1) after dividing by f
        bounds = torch.tensor(list(_cumulative(spec.kind_rates(), f)), dtype=torch.float64)
        kind = torch.bucketize(hash_uniform(derive_key(seed, _PURPOSE_KIND), cells), bounds, right=True)
        q = spec.transient_prob
        p01[faulty & (kind == 0)] = 1.0
        p10[faulty & (kind == 1)] = 1.0
        p01[faulty & (kind == 2)] = q
        p10[faulty & (kind >= 3)] = q
    label = name if name is not None else f"{spec.layout}(seed={seed})"
    return ProfiledChip(p01.view(spec.rows, spec.cols), p10.view(spec.rows, spec.cols), None, label)


def _cumulative(rates: tuple[float, ...], total: float) -> list[float]:
    out, acc = [], 0.0
    for r in rates[:-1]:
        acc += r / total
        out.append(acc)
    return out


def uniform_chip(
    rows: int,
    cols: int,
    p_0t1: float,
    p_1t0: float,
    p_sa: float,
    seed: int | torch.Generator = 0,
    *,
    transient_prob: float = 0.5,
) -> ProfiledChip:
    """Faults independent and uniform over the cells (like chip 1, Fig. 3 left); rates as fractions.

    >>> uniform_chip(64, 32, p_0t1=0.01, p_1t0=0.005, p_sa=0.006).stats().faulty
    0.02783203125
    """
    spec = SyntheticChipSpec(rows, cols, p_0t1, p_1t0, p_sa, "uniform", transient_prob=transient_prob)
    return synthetic_chip(spec, seed)


def column_aligned_chip(
    rows: int,
    cols: int,
    p_0t1: float,
    p_1t0: float,
    p_sa: float,
    seed: int | torch.Generator = 0,
    *,
    weak_fraction: float = 0.1,
    concentration: float = 0.9,
    transient_prob: float = 0.5,
) -> ProfiledChip:
    """Faults concentrated on weak columns (like chips 2 and 3, Fig. 3 right); rates as fractions.

    The 0->1 bias of chips 2 and 3 comes from p_0t1 > p_1t0 (see ``PAPER_CHIPS``).

    >>> column_aligned_chip(64, 32, p_0t1=0.01, p_1t0=0.005, p_sa=0.006)
    ProfiledChip(name='column_aligned(seed=0)', rows=64, cols=32, p=1.2207%, p_0t1=0.8301%, p_1t0=0.3906%, p_sa=0.3906%)
    """
    spec = SyntheticChipSpec(
        rows, cols, p_0t1, p_1t0, p_sa, "column_aligned", weak_fraction, concentration, transient_prob
    )
    return synthetic_chip(spec, seed)


@dataclass(frozen=True)
class PaperChip:
    """One row of App. C.1's table: rates **in %** as printed, plus the array size and layout.

    >>> row = PAPER_CHIPS["chip2_1.01"]
    >>> row.p_0t1, row.spec().layout
    (0.82, 'column_aligned')
    """

    chip: int
    p: float
    p_0t1: float
    p_1t0: float
    p_sa: float
    rows: int
    cols: int
    layout: str

    def spec(self, **overrides) -> SyntheticChipSpec:
        """The synthetic-chip settings (rates converted to fractions; p itself is not used)."""
        base = SyntheticChipSpec(
            self.rows, self.cols, self.p_0t1 / 100, self.p_1t0 / 100, self.p_sa / 100, self.layout
        )
        return replace(base, **overrides) if overrides else base


# App. C.1's table. Chip 1: 2048 x 128 bits, close to uniform (Fig. 3 left, Sec. 5.3);
# chips 2 and 3: 8192 x 128 bits, strongly column-aligned with a 0->1 bias (Tab. 5, G.5).
# Two rows (p = 4.707 and p = 0.136) carry no chip id in the table; the id "2" sits on
# the middle one of three rows (a multi-row cell), and both rows have chip 2's strong
# 0->1 bias (p = 0.136 is Tab. 5's "chip 2, p ~ 0.14"), so they are attributed to chip 2.
# Quirks kept as printed: for 4.707, p_0t1 + p_1t0 = 4.534 (generated chips match p_0t1,
# p_1t0 and p_sa, so their p is 4.534); chip 3's p_sa is 0.204 at p = 2.297 but 0.206 at 0.597.
PAPER_CHIPS: Mapping[str, PaperChip] = MappingProxyType(
    {
        "chip1_2.744": PaperChip(1, 2.744, 1.27, 1.47, 1.223, 2048, 128, "uniform"),
        "chip1_0.866": PaperChip(1, 0.866, 0.38, 0.49, 0.393, 2048, 128, "uniform"),
        "chip2_4.707": PaperChip(2, 4.707, 3.443, 1.091, 0.627, 8192, 128, "column_aligned"),
        "chip2_1.01": PaperChip(2, 1.01, 0.82, 0.19, 0.105, 8192, 128, "column_aligned"),
        "chip2_0.136": PaperChip(2, 0.136, 0.115, 0.021, 0.01, 8192, 128, "column_aligned"),
        "chip3_2.297": PaperChip(3, 2.297, 1.81, 0.48, 0.204, 8192, 128, "column_aligned"),
        "chip3_0.597": PaperChip(3, 0.597, 0.496, 0.0995, 0.206, 8192, 128, "column_aligned"),
    }
)


def paper_chip(name: str, seed: int | torch.Generator = 0, **overrides) -> ProfiledChip:
    """A synthetic chip with the statistics of a ``PAPER_CHIPS`` row (``overrides`` go to the spec).

    >>> paper_chip("chip1_2.744", rows=64).stats().percent()
    {'p': 2.7099609375, 'p_0t1': 1.15966796875, 'p_1t0': 1.55029296875, 'p_sa': 1.18408203125}
    """
    if name not in PAPER_CHIPS:
        raise BitrobustError(f"unknown paper chip {name!r}; valid: {', '.join(PAPER_CHIPS)}")
    seed = int_seed(seed)
    return synthetic_chip(PAPER_CHIPS[name].spec(**overrides), seed, name=f"{name}/synthetic(seed={seed})")


__all__ = [
    "LAYOUTS",
    "PAPER_CHIPS",
    "PaperChip",
    "SyntheticChipSpec",
    "column_aligned_chip",
    "paper_chip",
    "synthetic_chip",
    "uniform_chip",
    "weak_columns",
]
