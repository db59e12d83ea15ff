"""Synthetic chips: App. C.1 statistics within binomial CIs per voltage, one consistent physical chip
across the voltages of a paper chip, column concentration, effective flip rates, seeds."""

from __future__ import annotations

import math

import pytest
import torch

from bitrobust.bit_errors.profiled import ProfiledChip
from bitrobust.bit_errors.synthetic import (
    CONCENTRATION,
    PAPER_CHIPS,
    TRANSIENT_PROB,
    WEAK_FRACTION,
    SyntheticChipSpec,
    column_aligned_chip,
    nested_kind_rates,
    paper_chip,
    paper_family,
    synthetic_chip,
    synthetic_chips,
    uniform_chip,
    weak_columns,
)
from bitrobust.errors import BitrobustError

torch.set_num_threads(1)
Z = 5.0  # tolerance in standard deviations
TABLE_TOL = 0.0025  # in %: the model's mean rates vs App. C.1's table (only chip 3's p_sa quirk uses it)


def expected_and_sd(spec: SyntheticChipSpec, seed: int, rates=None) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of each statistic under the cell model (per-cell independent draws).

    ``rates`` are the kind rates (sa_0t1, sa_1t0, t_0t1, t_1t0), ``spec.kind_rates()`` by default; a cell
    of a column with multiplier m has kind d with probability m rates[d] (at every voltage level)."""
    sa01, sa10, t01, t10 = rates if rates is not None else spec.kind_rates()
    q = spec.transient_prob
    mult = torch.ones(spec.cols, dtype=torch.float64)
    if spec.layout == "column_aligned":
        m_weak, m_strong = spec.column_multipliers()
        mult.fill_(m_strong)
        mult[weak_columns(spec, seed)] = m_weak
    n = spec.rows * spec.cols
    out = {}
    for key, (sa, t) in {"p_0t1": (sa01, t01), "p_1t0": (sa10, t10)}.items():
        mean = sa * mult + q * t * mult
        var = (sa * mult + q * q * t * mult) - mean**2  # per cell of each column
        out[key] = (float(mean.mean()), math.sqrt(float(var.sum()) * spec.rows) / n)
    for key, r in {"p_sa": (sa01 + sa10) * mult, "faulty": (sa01 + sa10 + t01 + t10) * mult}.items():
        out[key] = (float(r.mean()), math.sqrt(float((r * (1 - r)).sum()) * spec.rows) / n)  # Bernoulli(r)
    return out


def level_rates(name: str):
    """The spec of a paper chip row and its nested kind rates (those of its voltage in its chip's family)."""
    family = paper_family(PAPER_CHIPS[name].chip)
    return PAPER_CHIPS[name].spec(), nested_kind_rates([PAPER_CHIPS[n].spec() for n in family])[family.index(name)]


@pytest.mark.parametrize("name", list(PAPER_CHIPS))
def test_paper_chip_stats_match_app_c1_per_voltage(name):
    row = PAPER_CHIPS[name]
    chip = paper_chip(name, seed=7)
    s = chip.stats()
    assert (chip.rows, chip.cols) == (row.rows, row.cols)
    spec, rates = level_rates(name)
    model = expected_and_sd(spec, 7, rates)
    for key, (mean, sd) in model.items():
        assert abs(getattr(s, key) - mean) <= Z * sd, (key, getattr(s, key), mean, sd)
    # the model's means are the table's rates (p_0t1, p_1t0 exactly; p_sa up to chip 3's quirk)
    assert model["p_0t1"][0] == pytest.approx(row.p_0t1 / 100)
    assert model["p_1t0"][0] == pytest.approx(row.p_1t0 / 100)
    assert abs(100 * model["p_sa"][0] - row.p_sa) <= TABLE_TOL
    # and so is the persistent fraction p_sa / p (within the same CIs)
    persistent = chip.persistent().stats()
    assert persistent.faulty == pytest.approx(s.p_sa)
    assert abs(s.p_sa / s.p - row.p_sa / (row.p_0t1 + row.p_1t0)) <= Z * model["p_sa"][1] / s.p + TABLE_TOL / row.p


def test_chip3_persistent_quirk_keeps_persistent_cells_and_directional_rates():
    """p_sa is 0.206% at p = 0.597 but 0.204% at p = 2.297: persistent cells stay, p_0t1 and p_1t0 still match."""
    family = paper_family(3)
    assert family == ["chip3_0.597", "chip3_2.297"]
    hi, lo = nested_kind_rates([PAPER_CHIPS[n].spec() for n in family])
    assert lo[0] == hi[0] and lo[1] >= hi[1]  # sa_0t1 kept, not shrunk
    spec = PAPER_CHIPS["chip3_2.297"].spec()
    assert lo[0] + spec.transient_prob * lo[2] == pytest.approx(spec.p_0t1)
    assert lo[1] + spec.transient_prob * lo[3] == pytest.approx(spec.p_1t0)
    assert 100 * (lo[0] + lo[1]) == pytest.approx(0.206, abs=TABLE_TOL)


@pytest.mark.parametrize("chip", [1, 2, 3])
def test_voltages_of_one_paper_chip_are_one_physical_chip(chip):
    """Higher voltage (lower p) -> a subset of the faulty cells, each with the same direction and kind."""
    names = paper_family(chip)
    maps = [paper_chip(n, seed=2) for n in names]
    for high, low in zip(maps, maps[1:]):
        f_high = (high.flip_0to1 > 0) | (high.flip_1to0 > 0)
        f_low = (low.flip_0to1 > 0) | (low.flip_1to0 > 0)
        assert bool((f_low | ~f_high).all())  # subset
        assert f_low.sum() > f_high.sum()
        assert torch.equal(high.flip_0to1[f_high], low.flip_0to1[f_high])  # same direction, same kind
        assert torch.equal(high.flip_1to0[f_high], low.flip_1to0[f_high])
        transient = f_high & ((high.flip_0to1 + high.flip_1to0) < 1)
        assert bool(transient.any())
        assert bool(((low.flip_0to1 + low.flip_1to0)[transient] == TRANSIENT_PROB).all())  # stays transient
        # Tab. 16's premise: the persistent errors at the higher voltage are a subset of those at the lower
        ph, pl = high.persistent(), low.persistent()
        assert bool((pl.flip_0to1 >= ph.flip_0to1).all()) and bool((pl.flip_1to0 >= ph.flip_1to0).all())
    # one direction per cell, never both
    for m in maps:
        assert not bool(((m.flip_0to1 > 0) & (m.flip_1to0 > 0)).any())


def test_synthetic_chips_levels_match_single_voltage_draws_at_the_top():
    spec = SyntheticChipSpec(256, 64, 0.01, 0.005, 0.006, "column_aligned")
    top, _ = synthetic_chips([spec, SyntheticChipSpec(256, 64, 0.03, 0.01, 0.008, "column_aligned")], seed=4)
    single = synthetic_chip(spec, seed=4)
    assert torch.equal(top.flip_0to1, single.flip_0to1) and torch.equal(top.flip_1to0, single.flip_1to0)


@pytest.mark.parametrize("name", ["chip1_0.866", "chip2_1.01"])
def test_effective_flip_rate_is_about_half(name):
    """On random data a directional fault flips only when the other bit is stored: flip rate ~ p / 2,
    and for persistent faults ~ half the faulty-cell rate."""
    chip = paper_chip(name, seed=3)
    s = chip.stats()
    n = chip.num_cells
    assert abs(chip.flip_rate() - s.p / 2) <= Z * math.sqrt(s.p / 2 / n)
    persistent = chip.persistent()
    faulty = persistent.stats().faulty
    assert abs(persistent.flip_rate() - faulty / 2) <= Z * math.sqrt(faulty / 4 / n)
    assert s.faulty > 1.4 * s.p  # transient cells flip only q_t of the time: faulty-cell rate > p


def test_uniform_chip_stats_within_binomial_ci():
    chip = uniform_chip(1024, 64, 0.02, 0.01, 0.012, seed=3)
    spec = SyntheticChipSpec(1024, 64, 0.02, 0.01, 0.012)
    s = chip.stats()
    for key, (mean, sd) in expected_and_sd(spec, 3).items():
        assert abs(getattr(s, key) - mean) <= Z * sd
    assert s.p == pytest.approx(s.p_0t1 + s.p_1t0)


def faults_per_column(chip: ProfiledChip) -> torch.Tensor:
    p01, p10 = chip.read_maps()
    return ((p01 > 0) | (p10 > 0)).sum(0)


def test_column_aligned_chip_concentrates_faults_with_0to1_bias():
    chip = paper_chip("chip2_1.01", seed=1)
    per_col = faults_per_column(chip).double()
    top = torch.sort(per_col, descending=True).values[: round(0.1 * chip.cols)]
    assert top.sum() / per_col.sum() > 0.8  # the top 10% columns hold most faults
    spec = PAPER_CHIPS["chip2_1.01"].spec()
    assert set(torch.topk(per_col, spec.num_weak).indices.tolist()) == set(weak_columns(spec, 1).tolist())
    s = chip.stats()
    assert s.p_0t1 > 3 * s.p_1t0  # 0 -> 1 bias as in the table (0.82 vs 0.19)
    # within weak columns, many cells of a column are faulty (vertical lines in Fig. 3 right)
    assert per_col.max() / chip.rows > 5 * s.faulty


def test_uniform_chip_is_not_concentrated():
    chip = paper_chip("chip1_2.744", seed=1)
    per_col = faults_per_column(chip).double()
    top = torch.sort(per_col, descending=True).values[: round(0.1 * chip.cols)]
    assert top.sum() / per_col.sum() < 0.15


def test_persistent_and_transient_encoding():
    chip = uniform_chip(256, 32, 0.05, 0.03, 0.02, seed=0, transient_prob=0.25)
    values = set(torch.cat([chip.flip_0to1.reshape(-1), chip.flip_1to0.reshape(-1)]).tolist())
    assert values == {0.0, 0.25, 1.0}
    assert not bool(((chip.flip_0to1 > 0) & (chip.flip_1to0 > 0)).any())  # one direction per cell
    assert chip.stuck_at is None


def test_seeds_reproduce_and_differ():
    a = column_aligned_chip(512, 64, 0.01, 0.002, 0.001, seed=5)
    b = column_aligned_chip(512, 64, 0.01, 0.002, 0.001, seed=5)
    c = column_aligned_chip(512, 64, 0.01, 0.002, 0.001, seed=6)
    assert torch.equal(a.flip_0to1, b.flip_0to1) and torch.equal(a.flip_1to0, b.flip_1to0)
    assert not torch.equal(a.flip_0to1, c.flip_0to1)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(uniform_chip(64, 16, 0.1, 0.1, 0.05, g1).flip_0to1, uniform_chip(64, 16, 0.1, 0.1, 0.05, g2).flip_0to1)


def test_faulty_cells_are_nested_across_rates_for_one_seed():
    low = paper_chip("chip2_0.136", seed=2)
    high = paper_chip("chip2_1.01", seed=2)
    f_low = (low.flip_0to1 > 0) | (low.flip_1to0 > 0)
    f_high = (high.flip_0to1 > 0) | (high.flip_1to0 > 0)
    assert bool((f_high | ~f_low).all())


def test_column_model_is_named_assumptions():
    spec = SyntheticChipSpec(64, 32, 0.01, 0.005, 0.006, "column_aligned")
    assert (spec.weak_fraction, spec.concentration, spec.transient_prob) == (WEAK_FRACTION, CONCENTRATION, TRANSIENT_PROB)
    chip = paper_chip("chip2_1.01", seed=1)
    per_col = faults_per_column(chip).double()
    share = per_col[weak_columns(PAPER_CHIPS["chip2_1.01"].spec(), 1)].sum() / per_col.sum()
    assert abs(float(share) - CONCENTRATION) < 0.02
    wider = paper_chip("chip2_1.01", seed=1, weak_fraction=0.25, concentration=0.5)
    assert faults_per_column(wider).double().max() < per_col.max()


def test_paper_chip_rejects_rate_overrides():
    with pytest.raises(BitrobustError, match="cannot override p_0t1"):
        paper_chip("chip1_0.866", p_0t1=0.01)


@pytest.mark.parametrize(
    "specs, match",
    [
        ([], "at least one"),
        ([SyntheticChipSpec(8, 8, 0.02, 0.0, 0.0), SyntheticChipSpec(8, 8, 0.01, 0.0, 0.0)], "highest voltage"),
        ([SyntheticChipSpec(8, 8, 0.01, 0.0, 0.0), SyntheticChipSpec(16, 8, 0.02, 0.0, 0.0)], "share rows"),
    ],
)
def test_invalid_voltage_levels(specs, match):
    with pytest.raises(BitrobustError, match=match):
        nested_kind_rates(specs)


def test_paper_table_rows():
    assert len(PAPER_CHIPS) == 7
    for name, row in PAPER_CHIPS.items():
        assert name.startswith(f"chip{row.chip}_")
        assert (row.rows, row.cols) == ((2048, 128) if row.chip == 1 else (8192, 128))
        assert row.layout == ("uniform" if row.chip == 1 else "column_aligned")
        row.spec()  # every row is feasible with the default column model


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(p_0t1=1.27, p_1t0=0.0147, p_sa=0.01), "did you mean"),
        (dict(p_0t1=0.01, p_1t0=0.01, p_sa=0.03), "cannot exceed"),
        (dict(p_0t1=0.2, p_1t0=0.1, p_sa=0.0, layout="column_aligned"), "too high"),
        (dict(p_0t1=0.01, p_1t0=0.01, p_sa=0.0, layout="rows"), "valid: uniform, column_aligned"),
        (dict(p_0t1=0.01, p_1t0=0.01, p_sa=0.0, transient_prob=1.0), "transient_prob"),
    ],
)
def test_invalid_specs(kwargs, match):
    with pytest.raises(BitrobustError, match=match):
        SyntheticChipSpec(rows=64, cols=32, **kwargs)


def test_unknown_paper_chip_lists_valid_names():
    with pytest.raises(BitrobustError, match="chip1_2.744"):
        paper_chip("chip4")


def test_zero_rates_give_a_clean_chip():
    chip = synthetic_chip(SyntheticChipSpec(8, 8, 0.0, 0.0, 0.0, "column_aligned"), seed=0)
    assert chip.stats().p == 0.0
