"""The input of an experiment's report, read from a plan: what :mod:`bitrobust.reports.experiment` writes from.

Reports sit below experiments, so they never see a plan. This adapter walks the plan's
report sections in order and, for every row and repeat, loads the result JSON of the
run's evaluations (``robustness.json``, ``metrics.json`` or ``weights.json``) into
:class:`bitrobust.reports.experiment_input.ExperimentReportInput`. The repeats (training seeds) of a row
are one model; the section's ``baseline`` or ``pairs`` become the model pairs its report compares.
"""

from __future__ import annotations

import os
from pathlib import Path

from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.experiments.plan import Plan, PlannedEval
from bitrobust.experiments.recipes import recipes_label
from bitrobust.io import read_json
from bitrobust.reports.energy import Storage, run_storage
from bitrobust.reports.experiment_input import Evaluation, ExperimentReportInput, RunEntry, SectionInput
from bitrobust.reports.text import unique_labels
from bitrobust.reports.runs import Run

RESULT_WHAT = {"bnn_metrics": "BNN metrics", "weights": "weight statistics", "weight_errors": "perturbed weights",
               "logits": "logit distributions", "vulnerability": "vulnerability map"}  # else a robustness result


def _evaluations(evals: list[PlannedEval]) -> tuple[Evaluation, ...]:
    return tuple(Evaluation(read_json(ev.result_file, RESULT_WHAT.get(ev.spec.kind, "robustness result")),
                            getattr(ev.settings, "chip", None)) for ev in evals)


def _pairs(plan: Plan, section, models: dict) -> tuple[tuple[str, str], ...]:
    """The section's (A, B) pairs as model names: its ``pairs``, else every row against its ``baseline``
    (empty: the report compares every row with the first); rows not in this budget are left out."""
    exp = plan.experiment
    if section.pairs:
        named = [(exp.row_named(section, a), exp.row_named(section, b)) for a, b in section.pairs]
        return tuple((models[a], models[b]) for a, b in named if a in models and b in models)
    base = exp.row_named(section, section.baseline) if section.baseline else None
    if base not in models:
        return ()
    return tuple((name, models[base]) for row, name in models.items() if row != base)


def _section(plan: Plan, section) -> SectionInput:
    if section.model_free:  # drawn from a model of the memory: its params, no runs
        return SectionInput(section.key, section.title, section.kind, (), section.note, params=dict(section.params),
                            model_free=True)
    rows = plan.section_rows(section)
    models = dict(zip(rows, unique_labels([row.label or plan.runs[row.run][0].spec.label for row in rows])))
    entries = []
    for row in rows:
        key = row.eval or section.eval
        for run in plan.runs[row.run]:
            label = models[row] + ("" if run.seed_index is None else f" (seed {run.seed_index})")
            extra = plan.evals.get((run.key, section.extra_eval), []) if section.extra_eval else []
            tags = run.spec.tags if run.seed_index is None else {**run.spec.tags, "seed": run.seed_index}
            evaluations = _evaluations(plan.evals[(run.key, key)])
            stored = _storage(run.run_dir, evaluations[0].result) if section.kind == "energy" else None
            entries.append(RunEntry(label, _relative(run.run_dir, plan), evaluations, _evaluations(extra),
                                    run.spec.key, tags, models[row], run.seed_index, stored))
    return SectionInput(section.key, section.title, section.kind, tuple(entries), section.note, section.confidence,
                        params=dict(section.params), pairs=_pairs(plan, section, models))


def _storage(run_dir: Path, result: dict) -> Storage:
    """What the evaluated weights store (an energy section's bits per weight), counted on the run's checkpoint."""
    return run_storage(Run(run_dir.name, run_dir, RobustnessResult.from_dict(result)))


def _relative(path: Path, plan: Plan) -> Path:
    """``path`` relative to the report's directory (result files never record the machine's absolute paths)."""
    return Path(os.path.relpath(path, plan.report_dir))


def report_input(plan: Plan) -> ExperimentReportInput:
    """The report input of ``plan`` (a planned experiment, its evaluations finished); loads every result file.

    >>> from pathlib import Path
    >>> from bitrobust.experiments import EXPERIMENTS
    >>> from bitrobust.experiments.plan import make_plan
    >>> from bitrobust.experiments.recipes import find_configs_dir
    >>> plan = make_plan(EXPERIMENTS.get("bnn-table3"), "quick", Path("out"), find_configs_dir())
    >>> report_input(plan)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    bitrobust.errors.BitrobustError: BNN metrics not found: out/runs/fc8_p0.quick-.../evals/bnn_metrics-.../metrics.json
    """
    exp = plan.experiment
    return ExperimentReportInput(
        name=exp.name, paper=exp.paper, reproduces=exp.reproduces, title=exp.title, description=exp.description,
        budget=plan.budget, smoke=plan.smoke, sections=tuple(_section(plan, s) for s in exp.sections),
        notes=tuple(exp.notes), runs_dir=str(_relative(plan.out / "runs", plan)), configs_dir=recipes_label(plan.configs_dir),
        n_runs=len(plan.unique_runs()), n_evals=len(plan.unique_evals()),
    )
