"""Robustness evaluation (contract 3) and every other way of evaluating a trained run.

:func:`evaluate_robustness` gives Err and RErr over bit error rates and chips for any
model and batches; :func:`load_run` turns a run directory into (model, metadata, test
data, quantizer); ``EVAL_KINDS`` holds the evaluation kinds (random, transient, profiled,
linf, vulnerability, weights, weight_errors, logits, bnn_metrics, activations) that :func:`evaluate` runs on
a run and writes to files.
"""

from bitrobust.evaluation.robustness import (
    PassResult,
    RateResult,
    RobustnessResult,
    evaluate_pass,
    evaluate_robustness,
)
from bitrobust.evaluation.linf import evaluate_linf_noise
from bitrobust.evaluation.sources import ProfiledOffsets, RandomChips, TransientReads
from bitrobust.evaluation.run import LoadedRun, load_run
from bitrobust.evaluation.kind import EVAL_KINDS, EvalKind, Outcome, evaluate
from bitrobust.evaluation import activations, bnn_metrics, logits, sweep, vulnerability, weight_errors, weights  # noqa: F401  (they register their kinds)
from bitrobust.evaluation.vulnerability import VulnerabilityMap, vulnerability_map

__all__ = [
    "EVAL_KINDS",
    "EvalKind",
    "LoadedRun",
    "Outcome",
    "PassResult",
    "ProfiledOffsets",
    "RandomChips",
    "RateResult",
    "RobustnessResult",
    "TransientReads",
    "evaluate",
    "evaluate_linf_noise",
    "evaluate_pass",
    "evaluate_robustness",
    "load_run",
    "VulnerabilityMap",
    "vulnerability_map",
]
