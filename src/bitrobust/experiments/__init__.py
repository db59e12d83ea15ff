"""Reproducible experiments of the three papers (and of language models and number formats):
``bitrobust reproduce NAME``.

Each experiment (:class:`~bitrobust.experiments.spec.Experiment`) is a small declarative
definition of one table or figure: the training runs (shipped recipes, ``bitrobust/recipes/``, plus
overrides, per budget), how each run is evaluated and what the report shows.
:mod:`~bitrobust.experiments.plan` resolves what an experiment needs,
:func:`~bitrobust.experiments.schedule.reproduce` trains what is missing, evaluates what
is missing and writes the report, so an interrupted reproduction resumes where it
stopped, and :mod:`~bitrobust.experiments.estimate` predicts its runtime.
``EXPERIMENTS`` lists them all in paper order.
"""

from __future__ import annotations

from bitrobust.experiments import bnn, formats, lm, paper3
from bitrobust.experiments.spec import BUDGETS, EvalSpec, Experiment, Row, RunSpec, Section
from bitrobust.registry import Registry

EXPERIMENTS: Registry[Experiment] = Registry("experiment")
for _exp in paper3.EXPERIMENTS + bnn.EXPERIMENTS + lm.EXPERIMENTS + formats.EXPERIMENTS:
    EXPERIMENTS.add(_exp.name, _exp)


def all_experiments() -> list[Experiment]:
    """Every registered experiment in definition order (paper 3, the BNN papers, language models, formats)."""
    return [EXPERIMENTS.get(name) for name in _ORDER]


_ORDER = [e.name for e in paper3.EXPERIMENTS + bnn.EXPERIMENTS + lm.EXPERIMENTS + formats.EXPERIMENTS]

__all__ = ["BUDGETS", "EXPERIMENTS", "EvalSpec", "Experiment", "Row", "RunSpec", "Section", "all_experiments"]
