"""Synthetic chips: App. C.1 statistics within binomial CIs, column concentration, seeds."""

from __future__ import annotations

import math

import pytest
import torch

from bitrobust.bit_errors.profiled import ProfiledChip
from bitrobust.bit_errors.synthetic import (
    PAPER_CHIPS,
    SyntheticChipSpec,
    column_aligned_chip,
    paper_chip,
    synthetic_chip,
    uniform_chip,
    weak_columns,
)
from bitrobust.errors import BitrobustError

torch.set_num_threads(1)
Z = 5.0  # tolerance in standard deviations


def expected_and_sd(spec: SyntheticChipSpec, seed: int) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of each statistic under the cell model (per-cell independent draws)."""
    sa01, sa10, t01, t10 = spec.kind_rates()
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
    r = (sa01 + sa10) * mult  # p_sa: persistent cells are Bernoulli(r)
    out["p_sa"] = (float(r.mean()), math.sqrt(float((r * (1 - r)).sum()) * spec.rows) / n)
    return out


@pytest.mark.parametrize("name", ["chip1_2.744", "chip2_1.01", "chip3_0.597"])
def test_paper_chip_stats_within_binomial_ci(name):
    row = PAPER_CHIPS[name]
    chip = paper_chip(name, seed=7)
    s = chip.stats()
    assert (chip.rows, chip.cols) == (row.rows, row.cols)
    for key, (mean, sd) in expected_and_sd(row.spec(), 7).items():
        assert abs(getattr(s, key) - mean) <= Z * sd, (key, getattr(s, key), mean, sd)
    # and the model's means are the table's rates
    assert expected_and_sd(row.spec(), 7)["p_0t1"][0] == pytest.approx(row.p_0t1 / 100)
    assert expected_and_sd(row.spec(), 7)["p_1t0"][0] == pytest.approx(row.p_1t0 / 100)
    assert expected_and_sd(row.spec(), 7)["p_sa"][0] == pytest.approx(row.p_sa / 100)


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
