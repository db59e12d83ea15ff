"""`bitrobust report`: golden Markdown on hand-made run directories, CSV/JSON content, names, errors."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from bitrobust.cli import main
from bitrobust.errors import BitrobustError
from bitrobust.reports.runs import display_name, load_run, load_runs
from bitrobust.reports.comparison import best_per_rate, pareto_front
from bitrobust.reports.tables import ReportSettings, markdown_report

GOLDEN = Path(__file__).parent / "golden"
RUNS = [GOLDEN / "run_dirs" / d for d in ("normal_8bit", "clipping_0.15", "randbet_0.05_p1", "randbet_m4")]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", *map(str, RUNS), "--out", str(out)]) == 0
    return out


def test_markdown_matches_golden(report_dir):
    assert (report_dir / "report.md").read_text() == (GOLDEN / "report.md").read_text()


def test_markdown_from_the_api_matches_golden():
    assert markdown_report(load_runs(RUNS), ReportSettings()) == (GOLDEN / "report.md").read_text()


def test_figures_are_written(report_dir):
    for name in ("rerr_vs_p.png", "confidence.png"):
        data = (report_dir / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000


def test_csv_has_one_row_per_model_and_rate(report_dir):
    rows = list(csv.DictReader(io.StringIO((report_dir / "report.csv").read_text())))
    assert len(rows) == 4 + 4 + 4 + 3
    first = rows[0]
    assert first["model"] == "NORMAL" and float(first["p"]) == 0.0001
    assert float(first["rerr_mean"]) == pytest.approx(0.0482)
    assert float(first["rerr_std"]) == pytest.approx(0.0007)
    assert float(first["rerr_bound"]) == pytest.approx(0.0482 + 0.5628234, abs=1e-6)  # App. C.2, l = 50
    best = {(r["bits"], r["p"]): r["model"] for r in rows if r["best"] == "1"}
    assert best[("8", "0.0001")] == "CLIPPING_0.15"
    assert best[("8", "0.01")] == "RANDBET_0.05 p=1%"
    assert best[("4", "0.01")] == "randbet_m4"


def test_json_summary(report_dir):
    data = json.loads((report_dir / "report.json").read_text())
    assert data["delta"] == 0.01 and data["rates"] == [0.0001, 0.001, 0.005, 0.01]
    runs = {r["name"]: r for r in data["runs"]}
    assert runs["randbet_m4"]["excess"] == pytest.approx(0.0371695 * 51, rel=1e-5)
    assert all(r["rerr_bound"] == 1.0 for r in runs["randbet_m4"]["rates"])
    best = [(b["bits"], b["p"], b["name"]) for b in data["best_per_p"]]
    assert best[:4] == [(8, 0.0001, "CLIPPING_0.15"), (8, 0.001, "CLIPPING_0.15"),
                        (8, 0.005, "RANDBET_0.05 p=1%"), (8, 0.01, "RANDBET_0.05 p=1%")]
    assert data["best_per_p"][0]["err_rerr_front"] == ["NORMAL", "CLIPPING_0.15"]


def test_best_per_rate_and_pareto_front():
    runs = load_runs(RUNS)
    b = best_per_rate(runs)
    assert [(x.bits, x.p) for x in b] == [(8, 0.0001), (8, 0.001), (8, 0.005), (8, 0.01), (4, 0.001), (4, 0.005), (4, 0.01)]
    assert pareto_front([("a", 1, 5), ("b", 2, 4), ("c", 2, 5), ("d", 1, 5)]) == ("a", "b", "d")


@pytest.mark.parametrize(
    "config, name",
    [
        ({"quant": {"scheme": "normal"}, "strategy": {"name": "normal"}}, "NORMAL"),
        ({"quant": {"scheme": "rquant"}, "strategy": {"name": "normal", "clip_w_max": None}}, "RQUANT"),
        ({"strategy": {"name": "normal", "clip_w_max": 0.1, "label_smoothing": 0.1}}, "CLIPPING_0.1 +LS"),
        ({"quant": {"scheme": "normal"}, "strategy": {"name": "normal", "clip_w_max": 0.1}}, "CLIPPING_0.1 [normal]"),
        ({"strategy": {"name": "randbet", "clip_w_max": 0.05, "params": {"p": 0.015}}}, "RANDBET_0.05 p=1.5%"),
        ({"strategy": {"name": "curricular_randbet", "params": {"p": 0.01}}}, "CURRICULAR_RANDBET p=1%"),
        ({"strategy": {"name": "bnn", "params": {"p": 0.0}}}, "BNN"),
        ({}, None),
    ],
)
def test_display_name_in_paper_notation(config, name):
    assert display_name(config) == name


def test_names_from_directories_and_collisions(tmp_path):
    a, b = tmp_path / "x" / "run", tmp_path / "y" / "run"
    for d in (a, b):
        shutil.copytree(RUNS[2], d)
    runs = load_runs([a, b, RUNS[3]])
    assert [r.name for r in runs] == ["RANDBET_0.05 p=1% (run) #1", "RANDBET_0.05 p=1% (run) #2", "randbet_m4"]
    assert [r.name for r in load_runs(RUNS[:2], name_from="dir")] == ["normal_8bit", "clipping_0.15"]
    assert load_run(RUNS[0] / "robustness.json").name == "NORMAL"


def test_missing_and_corrupt_results(tmp_path, capsys):
    with pytest.raises(BitrobustError, match="no robustness.json"):
        load_run(tmp_path)
    (tmp_path / "robustness.json").write_text("{not json")
    with pytest.raises(BitrobustError, match="corrupt"):
        load_run(tmp_path)
    (tmp_path / "robustness.json").write_text('{"err": 0.1}')
    with pytest.raises(BitrobustError, match="not a robustness result"):
        load_run(tmp_path)
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bitrobust: error:") and err.count("\n") == 1
    assert main(["report", str(RUNS[0]), "--out", str(tmp_path / "out"), "--delta", "2"]) == 2


def test_profiled_results_get_no_bound():
    from bitrobust.evaluation.robustness import RateResult, RobustnessResult
    from bitrobust.reports.runs import Run

    res = RobustnessResult(0.05, 0.9, 1000, "profiled", 10, 8, {}, (RateResult(0.01, (0.06, 0.08), (0.8, 0.8)),))
    md = markdown_report([Run("chip1", Path("chip1"), res)])
    assert "| chip1 | 8 | 5.00 | **7.00** ± 1.00 |" in md
    assert "| chip1 | chip1 | profiled | 1000 | 10 | n/a |" in md


def test_linf_results_are_labelled_and_never_mixed(tmp_path):
    from bitrobust.evaluation.robustness import RateResult, RobustnessResult
    from bitrobust.reports.runs import Run
    from bitrobust.reports.tables import write_report

    res = RobustnessResult(0.05, 0.9, 1000, "linf", 2, 8, {}, (RateResult(0.01, (0.06, 0.08), (0.8, 0.8)),))
    linf = Run("noise", Path("noise"), res)
    assert "| Model | m | Err in % | RErr eps=1% |" in markdown_report([linf])
    with pytest.raises(BitrobustError, match="cannot compare L-inf"):
        write_report([linf, load_run(RUNS[0])], tmp_path)
    assert not any(tmp_path.iterdir())


def test_series_styles_are_distinct_for_100_series():
    from bitrobust.reports.plotting import series_style

    styles = {tuple(sorted(series_style(i).items())) for i in range(100)}
    assert len(styles) == 100
    assert series_style(0)["color"] == series_style(10)["color"] and series_style(0) != series_style(10)
