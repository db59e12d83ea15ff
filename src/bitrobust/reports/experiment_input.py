"""What an experiment report is written from: plain data, filled in by the layer that ran the experiment.

The report of a reproduced table or figure (:mod:`bitrobust.reports.experiment`) never
sees plans, recipes or checkpoints. It gets the experiment's description and, per report
section, the evaluated runs with their result JSON already loaded (``robustness.json``,
``metrics.json`` of papers 1/2's BNN metrics, ``weights.json`` of paper 3's Fig. 10) as
dicts. ``bitrobust.experiments.report_input`` builds this from a plan; the golden tests
build it from stored JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bitrobust.version import __version__


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a run: its result JSON, and the name of the profiled chip it read (if any).

    >>> Evaluation({"test_error": 0.2, "T_bar": 0.3}).chip is None
    True
    """

    result: Mapping[str, Any]
    chip: str | None = None


@dataclass(frozen=True)
class RunEntry:
    """One row of a section: a trained model (one repeat) and its evaluations.

    ``evaluations``: the section's evaluation of the run (one per profiled chip, else one);
    ``extra``: the section's second evaluation (BNN: T^b beside the accuracy over BER).
    ``run_dir`` is shown as given. ``tags`` carry table coordinates (Table III:
    ``neurons``, ``ber``; native vs straight-through: ``ste``, ``op``, ``ber``) and, for a repeated
    run, its ``seed``; ``key`` names the run where the ``neurons`` tag is missing. ``storage``: the bits
    the evaluated weights store (:class:`bitrobust.reports.energy.Storage`), for ``energy`` sections.
    Repeated labels within a section are numbered (:func:`bitrobust.reports.text.unique_labels`).
    ``model`` groups the repeats (training ``seed`` 0, 1, ...) of one model (default: the label):
    RErr sections pool them and pair them seed by seed (contract 8).

    >>> RunEntry("RQUANT", Path("runs/rquant"), (Evaluation({}),)).extra
    ()
    """

    label: str
    run_dir: Path
    evaluations: tuple[Evaluation, ...]
    extra: tuple[Evaluation, ...] = ()
    key: str = ""
    tags: Mapping[str, Any] = field(default_factory=dict)
    model: str = ""
    seed: int | None = None
    storage: Any = None


@dataclass(frozen=True)
class SectionInput:
    """One table and figure of the report, written to ``<report>/<key>/``; ``kind`` picks the writer
    (``bitrobust.reports.experiment.SECTION_WRITERS``). A section without entries is left out, unless it
    is ``model_free`` (Fig. 1, 3, 8: its writer draws from ``params`` alone). ``pairs``: the (A, B) models
    (``RunEntry.model``) whose paired RErr differences the section shows (contract 8); empty: every model
    against the first, the section's reference.

    >>> SectionInput("clipping", "Weight clipping (Tab. 2)", "rerr", (), confidence=True).note
    ''
    """

    key: str
    title: str
    kind: str
    entries: tuple[RunEntry, ...]
    note: str = ""
    confidence: bool = False  # rerr: clean and perturbed mean confidences (Tab. 2)
    params: Mapping[str, Any] = field(default_factory=dict)  # settings of the writer (model-free, energy)
    model_free: bool = False  # drawn from a model of the memory (Fig. 1, 3, 8): written without entries
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ExperimentReportInput:
    """An experiment's description, how it was run, and its sections.

    ``runs_dir``, ``configs_dir``, ``n_runs`` and ``n_evals`` are shown in the report's
    header as given; ``version`` is the bitrobust version that produced the results.

    >>> ExperimentReportInput("p3-table2", "paper 3", "Tab. 2", "Clipping", "", "quick", True, ()).version == __version__
    True
    """

    name: str
    paper: str
    reproduces: str
    title: str
    description: str
    budget: str
    smoke: bool
    sections: tuple[SectionInput, ...]
    notes: tuple[str, ...] = ()
    runs_dir: str = "runs"
    configs_dir: str = "configs"
    n_runs: int = 0
    n_evals: int = 0
    version: str = __version__
