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


def test_results_on_other_chips_or_test_sets_are_refused_and_unrecorded_ones_match():
    import dataclasses

    base = result({0.01: (0.1, 0.2)})
    with pytest.raises(BitrobustError, match=r"different chips \(first chips 0 vs 1\).*--first-chip"):
        compare([dataclasses.replace(base, first_chip=0)], [dataclasses.replace(base, first_chip=1)])
    with pytest.raises(BitrobustError, match="different test examples"):
        compare([dataclasses.replace(base, test_set="mnist test")], [dataclasses.replace(base, test_set="mnist test, first 9000")])
    with pytest.raises(BitrobustError, match="numbers of chips"):
        compare([base], [result({0.01: (0.1, 0.2, 0.3)})])
    # a result that does not record its first chip (written before it was recorded) pairs with any
    assert compare([base], [dataclasses.replace(base, first_chip=3)])[0].diff.chips == 2
    # seeds of one side on different chips are refused too
    with pytest.raises(BitrobustError, match="first chips 0 vs 2"):
        compare([dataclasses.replace(base, first_chip=0), dataclasses.replace(base, first_chip=2)], [base, base])


def test_first_chip_and_test_set_round_trip_and_old_files_stay_as_they_were():
    import dataclasses

    base = result({0.01: (0.1, 0.2)})
    assert "first_chip" not in base.to_dict() and "test_set" not in base.to_dict()
    rec = dataclasses.replace(base, first_chip=0, test_set="mnist test")
    assert RobustnessResult.from_dict(rec.to_dict()) == rec and rec.to_dict()["first_chip"] == 0


def entry(model, seed, rerr_by_p, label=None):
    from pathlib import Path

    from bitrobust.reports.experiment_input import Evaluation, RunEntry

    res = result(rerr_by_p).to_dict()
    return RunEntry(label or f"{model} (seed {seed})", Path(model), (Evaluation(res),), model=model, seed=seed)


def test_section_pairs_seeds_and_chips_by_hand():
    from bitrobust.reports.experiment_input import SectionInput
    from bitrobust.reports.paired import pooled, section_comparisons

    # B is the reference (first); A's seeds 0 and 1 on chips 0 and 1; entries in any order
    entries = (entry("B", 1, {0.01: (0.30, 0.40)}), entry("B", 0, {0.01: (0.20, 0.30)}),
               entry("A", 0, {0.01: (0.10, 0.20)}), entry("A", 1, {0.01: (0.20, 0.20)}))
    section = SectionInput("s", "S", "rerr", entries)
    [c] = section_comparisons(section, lambda e: {"": RobustnessResult.from_dict(e.evaluations[0].result)})
    assert (c.a, c.b) == ("A", "B")
    [(where, row)] = c.rows
    # d[seed][chip] = A - B: seed 0: (-0.10, -0.10), seed 1: (-0.10, -0.20); seed means -0.10, -0.15
    # mean -0.125; sd of the two means 0.05 / sqrt(2); half width t(0.975, 1) * sd / sqrt(2) = 12.7062 * 0.025
    assert row.diff.mean == pytest.approx(-0.125)
    assert row.diff.high == pytest.approx(-0.125 + 12.7062 * 0.025, abs=1e-4)
    assert (row.diff.seeds, row.diff.chips, row.diff.unit, row.diff.verdict) == (2, 2, "seed", "not resolved")
    assert (row.mean_a, row.mean_b) == (pytest.approx(0.175), pytest.approx(0.30))
    pooled_a = pooled([RobustnessResult.from_dict(e.evaluations[0].result) for e in entries[2:]])
    assert pooled_a.rate(0.01).rerr == (0.10, 0.20, 0.20, 0.20) and pooled_a.trials == 2


def test_named_pairs_and_unpairable_seeds_are_shown_not_dropped():
    from bitrobust.reports.experiment_input import SectionInput
    from bitrobust.reports.paired import comparisons_markdown, section_comparisons

    entries = (entry("R", 0, {0.01: (0.5, 0.6)}), entry("C", 0, {0.01: (0.1, 0.2)}),
               entry("X", 0, {0.01: (0.3, 0.3)}), entry("X", 1, {0.01: (0.3, 0.3)}))
    section = SectionInput("s", "S", "rerr", entries, pairs=(("X", "C"), ("C", "R"), ("missing", "R")))
    comps = section_comparisons(section, lambda e: {"": RobustnessResult.from_dict(e.evaluations[0].result)})
    assert [(c.a, c.b) for c in comps] == [("X", "C"), ("C", "R")]
    assert "training seeds (2 vs 1)" in comps[0].refused and comps[1].rows[0][1].diff.verdict == "A lower"
    md = "\n".join(comparisons_markdown(comps))
    assert "not paired: different numbers of training seeds (2 vs 1)" in md
    assert "| C | R | 1 | 15.00 | 55.00 | -40.00 | [-40.00, -40.00] | A lower | 1000 | 2 | 1 |" in md


def test_pooled_seeds_keep_ecc_counts_and_non_finite_fractions_for_the_report():
    """Two seeds of a model read through ECC: the pooled result holds every (seed, chip) count, and the report's
    ECC and non-finite tables show their means over seeds x chips (computed here by hand)."""
    from dataclasses import replace
    from pathlib import Path

    from bitrobust.reports.paired import pooled
    from bitrobust.reports.runs import Run
    from bitrobust.reports.tables import ecc_table, nonfinite_table

    def seed(corrected, detected, nonfinite):
        rate = RateResult(0.01, (0.1, 0.2), (0.9, 0.9), nonfinite=nonfinite, ecc_corrected=corrected,
                          ecc_detected=detected)
        return RobustnessResult(0.01, 0.95, 100, "random", 2, 16, {}, (rate,), format="bf16",
                                protection={"ecc": "secded64"}, ecc_codewords=50)

    both = pooled([seed((4, 6), (1, 0), (0.0, 0.5)), seed((10, 0), (3, 0), (0.25, 0.0))])
    assert both.rate(0.01).ecc_corrected == (4, 6, 10, 0) and both.rate(0.01).ecc_detected == (1, 0, 3, 0)
    lines, rows = ecc_table([Run("bf16 + ECC", Path("r"), both)], [0.01])
    assert rows[0]["rates"] == [{"p": 0.01, "corrected_mean": 5.0, "detected_mean": 1.0}] and rows[0]["codewords"] == 50
    assert "| bf16 + ECC | secded64 | 50 | 5 / 1 |" in lines
    _, rows = nonfinite_table([Run("bf16 + ECC", Path("r"), both)], [0.01])
    assert rows[0]["rates"][0]["nonfinite_mean"] == pytest.approx(0.1875)
    # without ECC (one seed lacks it) nothing is pooled, and models without inf/NaN are left out
    plain = replace(seed((), (), (0.0, 0.0)), protection={}, ecc_codewords=None)
    assert pooled([plain, plain]).rate(0.01).ecc_corrected == ()
    assert ecc_table([Run("bf16", Path("r"), plain)], [0.01]) == ([], [])
    assert nonfinite_table([Run("bf16", Path("r"), plain)], [0.01]) == ([], [])


def test_the_papers_numbers_stand_beside_the_measured_ones(tmp_path):
    """A section with the paper's printed numbers: its table shows them beside Err and RErr mean ± std over
    seeds x chips, models the paper lists but this run lacks get "-", and results.json keeps both as fractions."""
    from bitrobust.reports.experiment_input import SectionInput
    from bitrobust.reports.tables import rerr_section

    entries = (entry("RQUANT", 0, {0.01: (0.02, 0.04), 0.05: (0.8, 0.9)}),
               entry("RQUANT", 1, {0.01: (0.03, 0.03), 0.05: (0.7, 0.8)}))
    paper = {"source": "Tab. 21", "rates": (0.01, 0.15),
             "models": {"RQUANT": {"err": 0.40, "rerr": (0.69, 90.10)}, "CLIPPING": {"err": 0.42, "rerr": (0.47, 80.64)}}}
    lines, data = rerr_section(SectionInput("s", "S", "rerr", entries, params={"paper": paper}), tmp_path / "s", "T")
    md = "\n".join(lines)
    # RQUANT at 1 %: (0.02, 0.04, 0.03, 0.03): mean 3.00, std 0.71 (population, as every RErr table); 15 % not evaluated
    assert "| Model | Err paper | Err here | RErr p=1% paper | RErr p=1% here | RErr p=15% paper | RErr p=15% here |" in md
    assert "| RQUANT | 0.40 | 1.00 | 0.69 | 3.00 ± 0.71 | 90.10 | - |" in md
    assert "| CLIPPING | 0.42 | - | 0.47 | - | 80.64 | - |" in md
    assert "between the plain RErr here and RErr + Err" in md
    assert data["paper"][0] == {"model": "RQUANT", "paper_err": pytest.approx(0.004),
                                "paper_rerr": [pytest.approx(0.0069), pytest.approx(0.901)], "err": 0.01,
                                "rerr": [pytest.approx(0.03), None]}
    assert data["paper"][1]["err"] is None
    without = rerr_section(SectionInput("s", "S", "rerr", entries), tmp_path / "t", "T")
    assert "paper" not in without[1] and "Err paper" not in "\n".join(without[0])
