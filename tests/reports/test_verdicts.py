"""Generated verdicts (contract 8): a results page's markers rewritten from synthetic results.json files."""

from __future__ import annotations

import json

import pytest

from bitrobust.cli import main
from bitrobust.errors import BitrobustError
from bitrobust.reports.verdicts import block, comparisons, render, summary, write_verdicts


def row(p, verdict, mean, seeds=3, chips=10, n=2000, **extra):
    low, high = {"A lower": (mean - 0.01, -0.001), "B lower": (0.001, mean + 0.01)}.get(verdict, (-0.02, 0.02))
    return {"p": p, "rerr_a": 0.1, "rerr_b": 0.1 - mean, "n": n, "mean": mean, "low": low, "high": high,
            "seeds": seeds, "chips": chips, "unit": "seed", "confidence": 0.95, "verdict": verdict, **extra}


RESULTS = {"experiment": "p3-table4", "sections": [
    {"key": "randbet", "title": "RandBET", "kind": "rerr", "paired": [
        {"a": "RANDBET", "b": "CLIPPING", "rows": [row(0.01, "not resolved", -0.001), row(0.05, "A lower", -0.02),
                                                   row(0.1, "A lower", -0.05)]},
        {"a": "CLIPPING", "b": "RQUANT", "rows": [row(0.01, "A lower", -0.03), row(0.05, "B lower", 0.01)]}]},
    {"key": "chips", "title": "Profiled", "kind": "profiled", "paired": [
        {"a": "RANDBET", "b": "CLIPPING", "rows": [row(0.0086, "not resolved", 0.0, chips=5, chip="chip1_0.866")]}]},
    {"key": "fc", "title": "FC", "kind": "bnn_importance", "paired": [
        {"a": "BET", "b": "regular", "metric": "var_pi", "value_a": 1e-5, "value_b": 2e-5, "mean": -1e-5,
         "low": -2e-5, "high": -1e-6, "seeds": 3, "chips": 1, "unit": "seed", "confidence": 0.95, "verdict": "A lower"}]},
]}

DOC = """# Results

Markers look like `<!-- verdict:NAME -->` ... `<!-- /verdict -->` (quoted in code: not a marker).

| Experiment | Verdict |
|---|---|
| `p3-table4` | <!-- verdict:p3-table4 -->hand-written, replaced<!-- /verdict --> |

Prose that stays.

<!-- verdicts:p3-table4 -->
old list
<!-- /verdict -->

More prose that stays.
"""


@pytest.fixture
def results_dir(tmp_path):
    (tmp_path / "res" / "p3-table4").mkdir(parents=True)
    (tmp_path / "res" / "p3-table4" / "results.json").write_text(json.dumps(RESULTS))
    return tmp_path / "res"


def test_markers_are_generated_and_prose_kept(results_dir):
    text, names, left = render(DOC, results_dir)
    assert names == ["p3-table4"] and left == []
    # 2 of 3 + 2 of 2 + 0 of 1 + 1 of 1 resolved; seeds 3; chips 5 and 10 (profiled offsets); n 2000
    assert ("| `p3-table4` | <!-- verdict:p3-table4 -->5 of 7 paired comparisons resolved (3 seeds, l = 5/10, "
            "n = 2000)<!-- /verdict --> |") in text
    assert "- RANDBET vs CLIPPING (RandBET): RANDBET lower at 5%, 10%; not resolved at 1% (3 seeds, l = 10, n = 2000)" in text
    assert "- CLIPPING vs RQUANT (RandBET): CLIPPING lower at 1%; RQUANT lower at 5% (3 seeds, l = 10, n = 2000)" in text
    assert "- RANDBET vs CLIPPING (Profiled): not resolved at chip1_0.866 (3 seeds, l = 5, n = 2000)" in text
    assert "- BET vs regular (FC, VAR(Pi)): BET lower (3 seeds)" in text
    assert "hand-written" not in text and "old list" not in text
    assert text.startswith("# Results\n") and "Prose that stays.\n" in text and text.endswith("More prose that stays.\n")
    assert render(text, results_dir)[0] == text  # idempotent


def test_a_changed_verdict_changes_the_page(results_dir):
    before = render(DOC, results_dir)[0]
    changed = json.loads(json.dumps(RESULTS))
    changed["sections"][0]["paired"][0]["rows"][0] = row(0.01, "B lower", 0.02)
    (results_dir / "p3-table4" / "results.json").write_text(json.dumps(changed))
    after = render(DOC, results_dir)[0]
    assert after != before and "CLIPPING lower at 1%" in after and "6 of 7 paired comparisons resolved" in after


def test_results_without_paired_statistics_are_left_or_refused(results_dir, tmp_path):
    old = {"experiment": "p3-table1", "sections": [{"key": "s", "title": "S", "kind": "rerr", "rows": []}]}
    (results_dir / "p3-table1").mkdir()
    (results_dir / "p3-table1" / "results.json").write_text(json.dumps(old))
    stale = "| <!-- verdict:p3-table1 -->by hand<!-- /verdict --> |\n"
    text, used, left = render(stale + DOC, results_dir)
    assert text.startswith(stale) and "5 of 7 paired comparisons resolved" in text  # kept, the other generated
    assert (used, left) == (["p3-table4"], ["p3-table1"])
    with pytest.raises(BitrobustError, match=r"no paired comparisons in the results of p3-table1 .*re-run"):
        render(stale, results_dir)
    with pytest.raises(BitrobustError, match="not found"):
        render("<!-- verdict:bnn-fig2 --><!-- /verdict -->", results_dir)
    with pytest.raises(BitrobustError, match="budget medium not found .*found only .*p3-table4.*quick"):
        render("<!-- verdict:p3-table4@medium --><!-- /verdict -->", results_dir)
    with pytest.raises(BitrobustError, match="no verdict markers"):
        render("# nothing to generate", results_dir)


def test_cli_rewrites_the_document(results_dir, tmp_path, capsys):
    doc = tmp_path / "RESULTS.md"
    doc.write_text(DOC)
    assert main(["report", "--verdicts", str(results_dir), "--doc", str(doc)]) == 0
    assert "wrote the verdicts of p3-table4" in capsys.readouterr().out
    assert "5 of 7 paired comparisons resolved" in doc.read_text()
    assert main(["report", "--verdicts", str(results_dir)]) == 2  # no --doc: one line, exit 2
    assert "needs --doc" in capsys.readouterr().err
    with pytest.raises(BitrobustError, match="no document"):
        write_verdicts(tmp_path / "missing.md", results_dir)


def test_a_budget_marker_reads_that_budgets_report_from_another_directory(results_dir, tmp_path):
    """One page cites the quick and the medium report of one experiment: NAME@medium finds the medium results in
    whichever directory holds them; NAME keeps the quick ones."""
    medium = json.loads(json.dumps(RESULTS))
    medium["budget"] = "medium"
    medium["sections"] = medium["sections"][:1]
    medium["sections"][0]["paired"] = medium["sections"][0]["paired"][:1]  # 2 of 3 resolved
    (tmp_path / "res-medium" / "p3-table4").mkdir(parents=True)
    (tmp_path / "res-medium" / "p3-table4" / "results.json").write_text(json.dumps(medium))
    doc = DOC + "| medium | <!-- verdict:p3-table4@medium -->by hand<!-- /verdict --> |\n"
    text, used, left = render(doc, [results_dir, tmp_path / "res-medium"])
    assert used == ["p3-table4", "p3-table4@medium"] and left == []
    assert "| medium | <!-- verdict:p3-table4@medium -->2 of 3 paired comparisons resolved" in text
    assert "<!-- verdict:p3-table4 -->5 of 7 paired comparisons resolved" in text
    assert render(text, [tmp_path / "res-medium", results_dir])[0] == text  # the order of the directories is free


def test_native_vs_st_accuracies_read_as_test_error():
    """Paper 2's rows (native - ST accuracy per training and evaluation BER): the operator with the higher
    accuracy has the lower test error; one comparison per gradient and training BER."""
    def nvs(ste, train, q, verdict, reads=5):
        return {"ste": ste, "train_ber": train, "eval_ber": q, "acc_st": 0.8, "acc_native": 0.78,
                "native_minus_st": -0.02, "low": -0.03, "high": -0.01, "verdict": verdict, "n": 2000,
                "reads": reads, "seeds": 3, "unit": "seed"}
    results = {"sections": [{"key": "fc", "title": "FC", "kind": "bnn_native_vs_st", "paired": [
        nvs("htanh", 0.3, 0.0, "ST higher", reads=1), nvs("htanh", 0.3, 0.1, "native higher"),
        nvs("identity", 0.01, 0.1, "not resolved")]}]}
    found = comparisons(results)
    assert [(c.section, c.points) for c in found] == [
        ("FC, htanh gradient, trained at 30%", (("0%", "A lower"), ("10%", "B lower"))),
        ("FC, identity gradient, trained at 1%", (("10%", "not resolved"),))]
    assert block(found).splitlines()[0] == ("- straight-through vs native (FC, htanh gradient, trained at 30%, test "
                                            "error): straight-through lower at 0%; native lower at 10% (3 seeds, "
                                            "l = 1/5, n = 2000)")
    assert summary(found) == "2 of 3 paired comparisons resolved (3 seeds, l = 1/5, n = 2000)"
