"""Robustness evaluation (contract 3): Err and RErr over bit error rates and chips."""

from bitrobust.evaluation.robustness import (
    PassResult,
    RateResult,
    RobustnessResult,
    evaluate_pass,
    evaluate_robustness,
)
from bitrobust.evaluation.linf import evaluate_linf_noise
from bitrobust.evaluation.sources import ProfiledOffsets, RandomChips, TransientReads

__all__ = [
    "PassResult",
    "ProfiledOffsets",
    "RandomChips",
    "RateResult",
    "RobustnessResult",
    "TransientReads",
    "evaluate_linf_noise",
    "evaluate_pass",
    "evaluate_robustness",
]
