"""Synthetic profiled chips with the statistics of App. C.1's table (paper 3, Fig. 3, Fig. 8, App. C.1).

The measured chip maps of the paper are not public, so these generators draw
:class:`~bitrobust.bit_errors.profiled.ProfiledChip` maps with the same key rates
p_0t1, p_1t0 (0->1 and 1->0 flips) and p_sa (persistent errors): faults spread
uniformly over the array (chip 1, Fig. 3 left) or concentrated on a few "weak"
columns (chips 2 and 3, Fig. 3 right, strongly column-aligned with a 0->1 bias).

**One physical chip per seed, several voltages.** The table lists each chip at two or
three supply voltages (higher p = lower voltage). A seed fixes, per cell c, a weakness
u1(c) (the cell's threshold voltage) and a second uniform u2(c) that fixes its fault
kind; both are hash-based uniforms of (seed, c), so a chip is a pure function of its
settings and seed (any torch version). At every voltage a cell has the same kind:

- a **persistent** cell flips its one direction on every read (probability 1; a
  persistent 0->1 cell reads 1 whatever is stored, i.e. it is stuck at 1);
- a **transient** cell flips its one direction with probability ``transient_prob``
  (q_t) per read, and stays transient at every voltage;
- cells never flip both ways.

Rates per voltage (all fractions of cells; the paper's table is in %): the persistent
rate p_sa is split over the directions in proportion to their rates,
sa_0t1 = p_sa p_0t1 / (p_0t1 + p_1t0), sa_1t0 = p_sa p_1t0 / (p_0t1 + p_1t0); the
transient-faulty fraction of direction d is t_d = (p_d - sa_d) / q_t, so the mean flip
probability is sa_d + q_t t_d = p_d exactly, and F = sa_0t1 + sa_1t0 + t_0t1 + t_1t0
is the fraction of faulty cells (the **faulty-cell rate**; on random data a directional
fault flips only when the stored bit is the other one, so the **effective flip rate**
is about p / 2, :meth:`ProfiledChip.flip_rate` measures it).

Nesting (:func:`nested_kind_rates`): with voltages ordered from the highest (fewest
faults) down, no kind's rate may shrink. Persistent rates: p_sa is raised to at least
the p_sa above and split so that neither direction's persistent rate shrinks (the
proportional split where that allows). Where the table breaks this (chip 3: p_sa =
0.206% at p = 0.597 but 0.204% at p = 2.297, and a different 0->1 : 1->0 ratio) the
persistent cells are kept (p_sa = 0.206% at both voltages) and the transient cells make
up the rest of each direction, so p_0t1 and p_1t0 still match the table. Cell c of column k
is faulty at voltage level l iff u1(c) < F_l m_k (m_k: the column multiplier, mean 1),
so the faulty cells at a higher voltage are a subset of those at a lower one, with the
same kind (errors "inherited" across voltages, Fig. 3; Tab. 16's premise). The cells
with F_{j-1} <= u1 / m_k < F_j (band j) take their kind from u2 with the proportions of
the rate increments from level j-1 to j; so every level has its own table row's rates.

Column model (``column_aligned``): n_w = max(1, round(weak_fraction cols)) weak
columns are drawn from the seed; a fraction ``concentration`` (c) of the faults falls
in them: m_weak = c cols / n_w + (1 - c), m_strong = 1 - c. Requires F m_weak <= 1.
**The paper gives no numbers for this** (nor for q_t): App. C.1 and Fig. 3/8 only say
that chips 2 and 3 are strongly column-aligned. The defaults :data:`WEAK_FRACTION`
(10% weak columns), :data:`CONCENTRATION` (holding 90% of the faults) and
:data:`TRANSIENT_PROB` (q_t = 0.5) are this toolkit's assumptions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Mapping, Sequence

import torch

from bitrobust.bit_errors.hashing import derive_key, hash_uniform, int_seed
from bitrobust.bit_errors.profiled import ProfiledChip
from bitrobust.errors import BitrobustError

LAYOUTS = ("uniform", "column_aligned")
# Assumptions (the paper is silent on them, see the module docstring): named so callers can see and change them.
WEAK_FRACTION = 0.1  # fraction of columns that are weak (column_aligned layout)
CONCENTRATION = 0.9  # fraction of the faults that fall in the weak columns
TRANSIENT_PROB = 0.5  # q_t: flip probability of a transient faulty cell per read
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
    weak_fraction: float = WEAK_FRACTION
    concentration: float = CONCENTRATION
    transient_prob: float = TRANSIENT_PROB

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


def nested_kind_rates(specs: Sequence[SyntheticChipSpec]) -> list[tuple[float, float, float, float]]:
    """Kind rates (sa_0t1, sa_1t0, t_0t1, t_1t0) of one chip at several voltages, made nested.

    ``specs`` go from the highest voltage (lowest p) down and must share everything but
    the rates. No kind's rate shrinks from one level to the next: the persistent rate is
    at least the one above, split so that neither direction's persistent rate shrinks, and
    the transient rates make up the rest of p_0t1 and p_1t0 (module docstring).

    >>> hi = SyntheticChipSpec(64, 32, p_0t1=0.01, p_1t0=0.0, p_sa=0.006)
    >>> lo = replace(hi, p_0t1=0.02, p_sa=0.004)
    >>> [tuple(round(r, 6) for r in level) for level in nested_kind_rates([hi, lo])]
    [(0.006, 0.0, 0.008, 0.0), (0.006, 0.0, 0.028, 0.0)]
    """
    if not specs:
        raise BitrobustError("need at least one voltage level")
    shared = [f.name for f in fields(SyntheticChipSpec) if f.name not in ("p_0t1", "p_1t0", "p_sa")]
    for above, spec in zip(specs, specs[1:]):
        diff = [k for k in shared if getattr(spec, k) != getattr(specs[0], k)]
        if diff:
            raise BitrobustError(f"the voltage levels of one chip must share {', '.join(diff)}")
        if spec.p_0t1 + spec.p_1t0 < above.p_0t1 + above.p_1t0:
            raise BitrobustError("order the voltage levels from the highest voltage (lowest p) down")
    out: list[tuple[float, float, float, float]] = []
    prev = (0.0, 0.0, 0.0, 0.0)
    for spec in specs:
        sa01, sa10, _, _ = spec.kind_rates()
        # persistent cells stay persistent: the persistent rate and each direction's share never shrink
        sa01 = max(sa01, prev[0])
        sa10 = max(max(spec.p_sa, prev[0] + prev[1]) - sa01, prev[1])
        q = spec.transient_prob  # the transient cells make up the rest of each direction's p_d
        prev = (sa01, sa10, max((spec.p_0t1 - sa01) / q, prev[2]), max((spec.p_1t0 - sa10) / q, prev[3]))
        out.append(prev)
    return out


def _chip_at(specs: Sequence[SyntheticChipSpec], level: int, seed: int, name: str) -> ProfiledChip:
    """The map of the physical chip (``specs``, ``seed``) at voltage level ``level`` (module docstring)."""
    spec = specs[0]
    ladder = torch.tensor(nested_kind_rates(specs), dtype=torch.float64)  # levels x 4 kinds
    totals = ladder.sum(1)  # F_l, the faulty-cell fraction per level
    n = spec.rows * spec.cols
    cells = torch.arange(n, dtype=torch.int64)
    col_mult = torch.ones(spec.cols, dtype=torch.float64)
    if spec.layout == "column_aligned":
        m_weak, m_strong = spec.column_multipliers()
        if float(totals[-1]) * m_weak > 1.0:
            raise BitrobustError(f"rates too high for this layout at the lowest voltage: {float(totals[-1]) * m_weak:.3g} "
                                 "> 1 of a weak column's cells faulty")
        col_mult.fill_(m_strong)
        col_mult[weak_columns(spec, seed)] = m_weak
    mult = col_mult[cells % spec.cols]
    u1 = hash_uniform(derive_key(seed, _PURPOSE_FAULT), cells)
    # faulty iff u1(c) < F_level m_col(c): u1 does not depend on the rates, so levels are nested
    faulty = torch.nonzero(u1 < totals[level] * mult).reshape(-1)
    p01 = torch.zeros(n, dtype=torch.float32)
    p10 = torch.zeros(n, dtype=torch.float32)
    if faulty.numel():
        # band j: F_{j-1} <= u1/m < F_j; its kinds in the proportions of the rate increments
        band = torch.bucketize(u1[faulty] / mult[faulty], totals, right=True).clamp(max=level)
        steps = torch.diff(ladder, dim=0, prepend=torch.zeros(1, 4, dtype=torch.float64))
        width = steps.sum(1, keepdim=True)
        bounds = torch.cumsum(torch.where(width > 0, steps / width.clamp(min=1e-300), 0.0), 1)[:, :3]
        u2 = hash_uniform(derive_key(seed, _PURPOSE_KIND), faulty)
        kind = (u2.unsqueeze(1) >= bounds[band]).sum(1)  # 0 sa_0t1, 1 sa_1t0, 2 t_0t1, 3 t_1t0
        q = spec.transient_prob
        p01[faulty[kind == 0]] = 1.0
        p10[faulty[kind == 1]] = 1.0
        p01[faulty[kind == 2]] = q
        p10[faulty[kind == 3]] = q
    return ProfiledChip(p01.view(spec.rows, spec.cols), p10.view(spec.rows, spec.cols), None, name)


def synthetic_chips(
    specs: Sequence[SyntheticChipSpec], seed: int | torch.Generator = 0, names: Sequence[str] | None = None
) -> list[ProfiledChip]:
    """One physical chip at several voltages: the maps for ``specs``, highest voltage (lowest p) first.

    Faulty cells at a higher voltage are faulty at every lower one, with the same kind.

    >>> hi = SyntheticChipSpec(64, 32, p_0t1=0.01, p_1t0=0.005, p_sa=0.006)
    >>> a, b = synthetic_chips([hi, replace(hi, p_0t1=0.03, p_sa=0.01)], seed=0)
    >>> bool(((a.flip_0to1 == 0) | (a.flip_0to1 == b.flip_0to1)).all())
    True
    """
    seed = int_seed(seed)
    names = names or [f"{specs[0].layout}(seed={seed}, level={k})" for k in range(len(specs))]
    if len(names) != len(specs):
        raise BitrobustError(f"need one name per voltage level, got {len(names)} for {len(specs)}")
    return [_chip_at(specs, k, seed, name) for k, name in enumerate(names)]


def synthetic_chip(spec: SyntheticChipSpec, seed: int | torch.Generator = 0, name: str | None = None) -> ProfiledChip:
    """Draw a chip from ``spec`` at a single voltage (cell model in the module docstring).

    >>> synthetic_chip(SyntheticChipSpec(64, 32, p_0t1=0.01, p_1t0=0.005, p_sa=0.006), seed=0)
    ProfiledChip(name='uniform(seed=0)', rows=64, cols=32, p=1.6113%, p_0t1=1.0498%, p_1t0=0.5615%, p_sa=0.4395%)
    """
    seed = int_seed(seed)
    return _chip_at([spec], 0, seed, name if name is not None else f"{spec.layout}(seed={seed})")


def uniform_chip(
    rows: int,
    cols: int,
    p_0t1: float,
    p_1t0: float,
    p_sa: float,
    seed: int | torch.Generator = 0,
    *,
    transient_prob: float = TRANSIENT_PROB,
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
    weak_fraction: float = WEAK_FRACTION,
    concentration: float = CONCENTRATION,
    transient_prob: float = TRANSIENT_PROB,
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


def paper_family(chip: int) -> list[str]:
    """The ``PAPER_CHIPS`` rows of one chip, from the highest voltage (lowest p) down.

    >>> paper_family(2)
    ['chip2_0.136', 'chip2_1.01', 'chip2_4.707']
    """
    names = sorted((name for name, row in PAPER_CHIPS.items() if row.chip == chip), key=lambda name: PAPER_CHIPS[name].p)
    if not names:
        raise BitrobustError(f"no paper chip {chip!r}; valid: {sorted({row.chip for row in PAPER_CHIPS.values()})}")
    return names


def paper_chip(name: str, seed: int | torch.Generator = 0, **overrides) -> ProfiledChip:
    """A synthetic chip with the statistics of a ``PAPER_CHIPS`` row (``overrides`` go to the spec).

    For one seed, all rows of a chip are the same physical chip at their voltages
    (:func:`paper_family`, :func:`synthetic_chips`): a cell faulty at a higher voltage is
    faulty, with the same kind, at every lower one. ``overrides`` change the array
    (rows, cols, layout) or the assumed column model / q_t, never the table's rates.

    >>> chip = paper_chip("chip1_0.866")  # faulty-cell rate, p of the table, effective flip rate, in %
    >>> round(100 * chip.stats().faulty, 3), round(100 * chip.stats().p, 3), round(100 * chip.flip_rate(), 3)
    (1.338, 0.864, 0.44)
    """
    if name not in PAPER_CHIPS:
        raise BitrobustError(f"unknown paper chip {name!r}; valid: {', '.join(PAPER_CHIPS)}")
    rates = sorted({"p_0t1", "p_1t0", "p_sa"} & set(overrides))
    if rates:
        raise BitrobustError(f"paper chips keep App. C.1's rates; cannot override {', '.join(rates)} "
                             "(use synthetic_chip for other rates)")
    seed = int_seed(seed)
    family = paper_family(PAPER_CHIPS[name].chip)
    specs = [PAPER_CHIPS[row].spec(**overrides) for row in family]
    return _chip_at(specs, family.index(name), seed, f"{name}/synthetic(seed={seed})")


__all__ = [
    "CONCENTRATION",
    "LAYOUTS",
    "PAPER_CHIPS",
    "PaperChip",
    "SyntheticChipSpec",
    "TRANSIENT_PROB",
    "WEAK_FRACTION",
    "column_aligned_chip",
    "nested_kind_rates",
    "paper_chip",
    "paper_family",
    "synthetic_chip",
    "synthetic_chips",
    "uniform_chip",
    "weak_columns",
]
