"""The paired comparison table (contract 8): rows per rate, intervals, verdicts, n / l / seeds, files."""

from __future__ import annotations

import json

import pytest

from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import RateResult, RobustnessResult
from bitrobust.reports.paired import compare, write_comparison


def result(rerr_by_p: dict, source="random", n=1000):
    rates = tuple(RateResult(p, tuple(r), (0.9,) * len(r)) for p, r in rerr_by_p.items())
    return RobustnessResult(0.01, 0.95, n, source, len(next(iter(rerr_by_p.values()))), 8, {}, rates)


def test_rows_verdicts_and_files(tmp_path):
    a = [result({0.01: (0.020, 0.030, 0.025), 0.05: (0.30, 0.10, 0.20)})]
    b = [result({0.01: (0.050, 0.060, 0.055), 0.05: (0.10, 0.30, 0.20)})]
    rows = compare(a, b)
    assert [r.p for r in rows] == [0.01, 0.05]
    assert rows[0].diff.verdict == "A lower" and rows[0].diff.mean == pytest.approx(-0.03)
    assert rows[1].diff.verdict == "not resolved" and (rows[1].n, rows[1].diff.chips, rows[1].diff.seeds) == (1000, 3, 1)
    paths = write_comparison(rows, "CLIPPING", "RQUANT", tmp_path)
    md = paths[0].read_text()
    assert "| 1 | 2.50 | 5.50 | -3.00 |" in md and "A lower" in md and "not resolved" in md
    data = json.loads(paths[2].read_text())
    assert data["rows"][0]["verdict"] == "A lower" and data["rows"][0]["unit"] == "chip"
    assert paths[1].read_text().splitlines()[0].startswith("p,rerr_a,rerr_b,n,mean,low,high")


def test_seeds_are_the_unit_when_there_are_several():
    a = [result({0.01: (0.02, 0.03)}), result({0.01: (0.03, 0.02)}), result({0.01: (0.025, 0.025)})]
    b = [result({0.01: (0.06, 0.05)}), result({0.01: (0.05, 0.07)}), result({0.01: (0.055, 0.06)})]
    [row] = compare(a, b)
    assert (row.diff.unit, row.diff.seeds, row.diff.verdict) == ("seed", 3, "A lower")


def test_unpaired_evaluations_are_refused():
    with pytest.raises(BitrobustError, match="different chips"):
        compare([result({0.01: (0.1, 0.2)})], [result({0.01: (0.1, 0.2)}, source="transient")])
    with pytest.raises(BitrobustError, match="test examples"):
        compare([result({0.01: (0.1, 0.2)})], [result({0.01: (0.1, 0.2)}, n=500)])
    with pytest.raises(BitrobustError, match="share no bit error rate"):
        compare([result({0.01: (0.1, 0.2)})], [result({0.02: (0.1, 0.2)})])
