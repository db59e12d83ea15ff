"""The report of one reproduced experiment: a Markdown summary, JSON results, and per section tables and figures.

``OUT/report.md`` has one part per section (a compact table in the paper's layout, its
notes and figures); ``OUT/results.json`` the numbers behind it. Each section's directory
``OUT/<section>/`` holds its full tables (Markdown, CSV, JSON) and PNG figures. The
input is plain data (:mod:`bitrobust.reports.experiment_input`). Section kinds
(``SECTION_WRITERS``):

- ``rerr``: :func:`bitrobust.reports.tables.rerr_section` (RErr per p with the Prop. 1
  bound, best model per p and precision, the Fig. 7 frontier plot, confidences; paper 3);
- ``profiled``: RErr per model and profiled chip (paper 3, Tab. 5/15), :mod:`bitrobust.reports.profiled`;
- ``bnn_curves``: accuracy over BER and T^b over b side by side (papers 1/2, Fig. 1;
  paper 2, Fig. 2), :mod:`bitrobust.reports.bnn`;
- ``bnn_importance``: Pi per hidden neuron (paper 1, Fig. 2);
- ``bnn_table``: VAR(Pi) and T-bar over widths x training BERs, mean (and range) over
  repetitions (paper 1, Table III);
- ``bnn_native_vs_st``: native minus straight-through flip training, paired over seeds and reads
  (paper 2, Sec. IV-B, V), :mod:`bitrobust.reports.native_vs_st`;
- ``weights``: weight histograms relative to w_max and the redundancy measures of
  paper 3, Fig. 10, :mod:`bitrobust.reports.weights`;
- ``energy_model``: bit error rate and energy vs voltage with the model's assumptions (paper 3, Fig. 1),
  :mod:`bitrobust.reports.energy`; ``chip_maps``: flip probability maps of synthetic chips at two
  voltages (Fig. 3, 8), :mod:`bitrobust.reports.chip_maps` -- both model-free (no runs);
- ``weight_errors``: original vs perturbed weights (Fig. 4), :mod:`bitrobust.reports.weight_errors`;
- ``logits``: logit and confidence distributions (Fig. 6), :mod:`bitrobust.reports.logits`;
- ``clean_err``: clean Err per precision and normalization (Tab. 7), :mod:`bitrobust.reports.clean_err`;
- ``energy``: the lowest energy within an error budget per run, stored bits per weight charged (number
  formats, contract 5), :func:`bitrobust.reports.energy.energy_section`;
- ``vulnerability``: a vulnerability map (RErr per tensor x bit position, rankings, heatmap) per model
  (contract 6), :func:`bitrobust.reports.vulnerability.vulnerability_section`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from bitrobust.io import write_json, write_text
from bitrobust.registry import Registry
from bitrobust.reports.bnn import bnn_curves_section, bnn_importance_section, bnn_table_section
from bitrobust.reports.chip_maps import chip_maps_section
from bitrobust.reports.clean_err import clean_err_section
from bitrobust.reports.energy import energy_model_section, energy_section
from bitrobust.reports.experiment_input import ExperimentReportInput, SectionInput
from bitrobust.reports.logits import logits_section
from bitrobust.reports.native_vs_st import native_vs_st_section
from bitrobust.reports.profiled import profiled_section
from bitrobust.reports.tables import rerr_section
from bitrobust.reports.text import unique_labels
from bitrobust.reports.vulnerability import vulnerability_section
from bitrobust.reports.weight_errors import weight_errors_section
from bitrobust.reports.weights import weights_section

SectionWriter = Callable[[SectionInput, Path, str], tuple[list[str], dict]]
"""(section, its directory, what the experiment reproduces) -> (lines of report.md, part of results.json)."""

SECTION_WRITERS: Registry[SectionWriter] = Registry("report section kind")
for _kind, _writer in (("rerr", rerr_section), ("profiled", profiled_section), ("bnn_curves", bnn_curves_section),
                       ("bnn_importance", bnn_importance_section), ("bnn_table", bnn_table_section),
                       ("bnn_native_vs_st", native_vs_st_section), ("weights", weights_section),
                       ("energy_model", energy_model_section),
                       ("chip_maps", chip_maps_section), ("weight_errors", weight_errors_section),
                       ("logits", logits_section), ("clean_err", clean_err_section), ("energy", energy_section),
                       ("vulnerability", vulnerability_section)):
    SECTION_WRITERS.add(_kind, _writer)


def _labelled(section: SectionInput) -> SectionInput:
    """The section with repeated entry labels numbered."""
    labels = unique_labels([e.label for e in section.entries])
    return dataclasses.replace(section, entries=tuple(dataclasses.replace(e, label=label)
                                                      for e, label in zip(section.entries, labels)))


def write_experiment_report(report: ExperimentReportInput, out_dir: str | Path) -> list[Path]:
    """report.md and results.json in ``out_dir`` plus each section's directory; returns the two paths.

    >>> import tempfile
    >>> from bitrobust.reports.experiment_input import Evaluation, RunEntry
    >>> tb = {"test_error": 0.2, "var_pi": 0.01, "T_bar": 0.5}
    >>> entry = RunEntry("FC8 BER 0%", Path("runs/fc8"), (Evaluation(tb),), tags={"neurons": "8,8", "ber": 0})
    >>> report = ExperimentReportInput("bnn-table3", "paper 1", "Table III", "VAR(Pi) and T-bar", "", "quick", False,
    ...                                (SectionInput("fc", "FC BNNs", "bnn_table", (entry,)),), version="0.1.0")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = write_experiment_report(report, d)
    ...     print(paths[0].read_text().splitlines()[0])
    # paper 1, Table III: VAR(Pi) and T-bar
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    budget = report.budget + (" (smoke: tiny subsets, not results)" if report.smoke else "")
    lines = [
        f"# {report.paper}, {report.reproduces}: {report.title}", "",
        f"Reproduces {report.paper}, {report.reproduces}. {report.description}", "",
        f"- budget: {budget}",
        f"- runs: {report.n_runs} (in `{report.runs_dir}`), evaluations: {report.n_evals}",
        f"- recipes: `{report.configs_dir}`; resolved definition: [experiment.yaml](experiment.yaml)",
        f"- written by bitrobust {report.version} (`bitrobust reproduce {report.name} --budget {report.budget}"
        f"{' --smoke' if report.smoke else ''}`)", "",
    ]
    if report.notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in report.notes] + [""]
    sections = []
    for section in report.sections:
        if not section.entries and not section.model_free:
            continue
        writer = SECTION_WRITERS.get(section.kind)
        sec_lines, data = writer(_labelled(section), out / section.key, report.reproduces)
        lines += [f"## {section.title}", ""] + ([section.note, ""] if section.note else []) + sec_lines
        sections.append({"key": section.key, "title": section.title, "kind": section.kind, "note": section.note, **data})
    paths = [out / "report.md", out / "results.json"]
    write_text(paths[0], "\n".join(lines).rstrip() + "\n")
    write_json(paths[1], {"experiment": report.name, "paper": report.paper, "reproduces": report.reproduces,
                          "title": report.title, "budget": report.budget, "smoke": report.smoke,
                          "notes": list(report.notes), "sections": sections})
    return paths
