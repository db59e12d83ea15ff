"""Experiment reports from stored result JSON: golden report.md, results.json and section tables per section kind.

``golden/experiments/<name>/input.json`` is the report input of a smoke reproduce of
``<name>`` (see ``golden/experiments/make_fixtures.py``), its evaluations' result JSON
stored under ``golden/experiments/results/``; ``<name>/expected/`` holds every text file
the report writes (Markdown, CSV, JSON) and ``figures.txt``, the PNGs it draws. After an
intended change of the reports, regenerate the expected files with

    BITROBUST_UPDATE_GOLDEN=1 pytest tests/reports/test_experiment_report.py

and review the diff.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from bitrobust.errors import BitrobustError
from bitrobust.reports.experiment import write_experiment_report
from bitrobust.reports.experiment_input import Evaluation, ExperimentReportInput, RunEntry, SectionInput

GOLDEN = Path(__file__).parent / "golden" / "experiments"
NAMES = sorted(d.name for d in GOLDEN.iterdir() if (d / "input.json").is_file())
UPDATE = os.environ.get("BITROBUST_UPDATE_GOLDEN") == "1"
TEXT = (".md", ".csv", ".json")
PNG = b"\x89PNG\r\n\x1a\n"
ABSOLUTE = re.compile(r"(?<![\w.])/(tmp|work|home|root|Users|usr|var|private)/")


def load_input(name: str) -> ExperimentReportInput:
    data = json.loads((GOLDEN / name / "input.json").read_text())

    def evaluations(items: list[dict]) -> tuple[Evaluation, ...]:
        return tuple(Evaluation(json.loads((GOLDEN / e["result"]).read_text()), e["chip"]) for e in items)

    sections = tuple(
        SectionInput(s["key"], s["title"], s["kind"], tuple(
            RunEntry(e["label"], Path(e["run_dir"]), evaluations(e["evaluations"]), evaluations(e["extra"]), e["key"],
                     e["tags"], e.get("model", ""), e.get("seed"))
            for e in s["entries"]), s["note"], s["confidence"], tuple(map(tuple, s.get("pairs", ()))))
        for s in data["sections"]
    )
    return ExperimentReportInput(**{**data, "sections": sections, "notes": tuple(data["notes"])})


def written(out: Path) -> tuple[dict[str, str], list[str]]:
    """(relative path -> text of every Markdown/CSV/JSON file, relative paths of the PNGs)."""
    files = sorted(p for p in out.rglob("*") if p.is_file())
    texts = {p.relative_to(out).as_posix(): p.read_text() for p in files if p.suffix in TEXT}
    pngs = [p.relative_to(out).as_posix() for p in files if p.suffix == ".png"]
    assert all((out / p).read_bytes()[:8] == PNG for p in pngs)
    return texts, pngs


def test_every_section_kind_has_a_golden():
    kinds = {s["kind"] for name in NAMES for s in json.loads((GOLDEN / name / "input.json").read_text())["sections"]}
    assert kinds == {"rerr", "profiled", "bnn_curves", "bnn_importance", "bnn_table", "bnn_native_vs_st", "weights"}


@pytest.mark.parametrize("name", NAMES)
def test_report_matches_golden(name, tmp_path):
    out = tmp_path / name
    paths = write_experiment_report(load_input(name), out)
    assert paths == [out / "report.md", out / "results.json"]
    texts, pngs = written(out)
    expected = GOLDEN / name / "expected"
    if UPDATE:
        shutil.rmtree(expected, ignore_errors=True)
        for rel, text in texts.items():
            (expected / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected / rel).write_text(text)
        (expected / "figures.txt").write_text("".join(f"{p}\n" for p in pngs))
    want = {p.relative_to(expected).as_posix(): p.read_text() for p in sorted(expected.rglob("*"))
            if p.is_file() and p.suffix in TEXT}
    assert sorted(texts) == sorted(want)
    for rel, text in texts.items():
        assert text == want[rel], f"{name}/{rel} differs from the golden (BITROBUST_UPDATE_GOLDEN=1 rewrites it)"
    assert pngs == (expected / "figures.txt").read_text().split()


def test_goldens_and_stored_results_hold_no_absolute_paths():
    for path in GOLDEN.rglob("*"):
        if path.is_file() and path.suffix in TEXT + (".txt",):
            assert not ABSOLUTE.search(path.read_text()), path


def test_repeated_labels_are_numbered_and_empty_sections_left_out(tmp_path):
    report = load_input("p3-table2")
    section = report.sections[0]
    twice = SectionInput(section.key, section.title, section.kind, section.entries[:1] * 2)
    empty = SectionInput("nothing", "No runs in this budget", "rerr", ())
    paths = write_experiment_report(ExperimentReportInput(**{**report.__dict__, "sections": (twice, empty)}), tmp_path)
    results = json.loads(paths[1].read_text())
    assert [s["key"] for s in results["sections"]] == ["clipping"]
    assert [r["model"] for r in results["sections"][0]["rows"]] == ["RQUANT", "RQUANT #2"]
    assert not (tmp_path / "nothing").exists()


def test_unknown_section_kind_lists_the_valid_ones(tmp_path):
    report = load_input("p3-table2")
    bad = SectionInput("x", "X", "histogram", report.sections[0].entries)
    with pytest.raises(BitrobustError, match="unknown report section kind 'histogram'; valid: bnn_curves"):
        write_experiment_report(ExperimentReportInput(**{**report.__dict__, "sections": (bad,)}), tmp_path)
