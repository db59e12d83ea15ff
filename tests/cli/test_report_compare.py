"""``bitrobust report --compare A B``: the paired table from two evaluated runs on the same chips."""

from __future__ import annotations

import json

from bitrobust.cli import main
from bitrobust.evaluation import RobustnessResult
from bitrobust.reports.paired import compare


def test_compare_two_evaluations_of_one_run(tmp_path, tiny_run, data_dir, capsys):
    common = ["--rates", "0.01,0.1", "--chips", "3", "--test-subset", "100", "--data-dir", str(data_dir), "--no-progress"]
    assert main(["eval", str(tiny_run), *common, "--out", str(tmp_path / "m8")]) == 0
    assert main(["eval", str(tiny_run), *common, "--bits", "3", "--out", str(tmp_path / "m3")]) == 0
    capsys.readouterr()
    assert main(["report", "--compare", str(tmp_path / "m8"), str(tmp_path / "m3"), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    results = [RobustnessResult.from_dict(json.loads((tmp_path / d / "robustness.json").read_text())) for d in ("m8", "m3")]
    expected = compare([results[0]], [results[1]])
    assert [row["verdict"] for row in data["rows"]] == [r.diff.verdict for r in expected]
    assert [row["mean"] for row in data["rows"]] == [r.diff.mean for r in expected]
    assert all(row["n"] == 100 and row["chips"] == 3 and row["seeds"] == 1 for row in data["rows"])
    assert "p=10%:" in printed and "(n=100, l=3, seeds=1)" in printed
    # a different number of chips is not a paired comparison
    assert main(["eval", str(tiny_run), *common[:2], "--chips", "2", *common[4:], "--out", str(tmp_path / "c2")]) == 0
    assert main(["report", "--compare", str(tmp_path / "m8"), str(tmp_path / "c2"), "--out", str(tmp_path / "x")]) == 2
    assert "different chips" in capsys.readouterr().err
