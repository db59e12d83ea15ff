"""Evaluation kinds: every way of evaluating a trained run, defined once and chosen by name.

A kind (``EVAL_KINDS``: random, transient, profiled, linf, vulnerability, weights, weight_errors, logits,
bnn_metrics, activations) owns

- its frozen settings and how they are resolved for a run (:meth:`EvalKind.settings`:
  rates and chips default to the ``eval`` section of the run's recipe);
- how it runs on a loaded run (:meth:`EvalKind.run`) and the result file it writes;
- a one-line description of its settings and of its result, and its cost in test-set passes
  (for runtime estimates).

:func:`evaluate` loads a run, runs a kind and writes ``eval_config.json`` (the resolved
settings) and the result file; ``bitrobust eval``, ``bitrobust metrics`` and
``bitrobust reproduce`` all call it, so they give the same numbers for the same settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from bitrobust.device import is_main_process
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.run import LoadedRun, load_run
from bitrobust.io import write_json
from bitrobust.registry import Registry


@dataclass(frozen=True)
class Outcome:
    """What a kind's run returns: the result (written to its result file) and facts about the
    evaluation itself (written to ``eval_config.json``, e.g. the scheme actually used)."""

    result: dict
    info: dict = field(default_factory=dict)
    native: Any = None  # the result object, e.g. a RobustnessResult, for callers that render it


class EvalKind:
    """Base of the evaluation kinds (see the module docstring)."""

    name: str = ""
    result_file: str = "robustness.json"
    settings_type: type = object
    default_batch: int = 1000  # test examples per forward pass when the caller gives no batch size

    def batch_size(self, given: int | None = None) -> int:
        """The evaluation's batch size: ``given``, else the kind's default. The outputs of one example may
        differ in the last bits between batch sizes (a CPU library picks its algorithm by batch size), so
        ``eval_config.json`` records it (benchmarks/bench_eval_batch.py: on a CPU batch 64 is about twice as
        fast as 1000)."""
        return given or self.default_batch

    def settings(self, values: Mapping[str, Any], recipe_eval: Mapping[str, Any] | None = None):
        """Frozen settings from ``values`` (None: not given); what is not given comes from the run's
        recipe (``recipe_eval``, its ``eval`` section) or the defaults. A value the kind has no
        setting for is an error."""
        given = {k: v for k, v in values.items() if v is not None}
        if "rates" in given:  # frozen, hashed settings: a tuple of floats whatever sequence was given
            given["rates"] = tuple(float(p) for p in given["rates"])
        valid = [f.name for f in fields(self.settings_type) if f.name != "kind"]
        unknown = sorted(set(given) - set(valid))
        if unknown:
            raise BitrobustError(f"the {self.name} evaluation has no setting {unknown[0]!r}; valid: {', '.join(valid)}")
        return self.settings_type(**self.resolve(given, recipe_eval or {}))

    def resolve(self, given: dict, recipe_eval: Mapping[str, Any]) -> dict:
        """Keyword arguments of the settings type from the given values (hook for defaults)."""
        return given

    def run(self, run: LoadedRun, settings, data_dir: str | os.PathLike | None = None,
            progress: bool = False, batch_size: int | None = None) -> Outcome:
        raise NotImplementedError

    def describe(self, settings) -> str:
        """One line saying what is evaluated (for logs and dry runs)."""
        raise NotImplementedError

    def summary(self, outcome: Outcome, settings) -> str:
        """One line with the main numbers of the result."""
        raise NotImplementedError

    def passes(self, settings) -> float:
        """Cost in forward passes over the evaluated test examples."""
        raise NotImplementedError


EVAL_KINDS: Registry[EvalKind] = Registry("evaluation kind")


def register_kind(cls: type[EvalKind]) -> type[EvalKind]:
    """Class decorator: register an instance of ``cls`` under ``cls.name``."""
    EVAL_KINDS.add(cls.name, cls())
    return cls


def on_test_set(test_subset: int | None) -> str:
    return f" on {test_subset} test images" if test_subset else " on the test set"


def evaluate(
    run: str | os.PathLike | LoadedRun,
    settings,
    out_dir: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool = False,
    batch_size: int | None = None,
    label: str | None = None,
) -> Outcome:
    """Run the evaluation ``settings`` (of any kind) on ``run`` and write its files to ``out_dir``:
    ``eval_config.json`` (run, label, the resolved settings, facts of the evaluation) and the
    kind's result file (under torchrun: rank 0 only; chips are split across the ranks). Returns the outcome."""
    kind = EVAL_KINDS.get(settings.kind)
    loaded = run if isinstance(run, LoadedRun) else load_run(run, device)
    outcome = kind.run(loaded, settings, data_dir=data_dir, progress=progress, batch_size=batch_size)
    if is_main_process():  # under torchrun every rank has the gathered result; rank 0 writes it
        out = Path(out_dir)
        config = {"run": os.path.relpath(loaded.path, out)}  # relative: no absolute paths in result files
        if label is not None:
            config["label"] = label
        if kind.passes(settings) > 0:
            config["batch_size"] = kind.batch_size(batch_size)
        write_json(out / "eval_config.json", {**config, **settings.to_dict(), **outcome.info})
        write_json(out / kind.result_file, outcome.result)
    return outcome

