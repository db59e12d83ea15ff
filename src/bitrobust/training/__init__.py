"""Training: one trainer with pluggable strategies (normal QAT, clipping, RandBET, ...)."""

from bitrobust.training.config import (
    DataSection,
    EvalSection,
    ModelSection,
    OptimSection,
    QuantSection,
    StrategySection,
    TrainConfig,
)
from bitrobust.training.strategies import STRATEGIES, StepResult, Strategy
from bitrobust.training.trainer import Trainer
from bitrobust.training import randbet  # noqa: E402,F401  (registers randbet, curricular_randbet, alternating_randbet, pattbet)
from bitrobust.training import bnn  # noqa: E402,F401  (registers bnn)

__all__ = [
    "STRATEGIES",
    "DataSection",
    "EvalSection",
    "ModelSection",
    "OptimSection",
    "QuantSection",
    "StepResult",
    "Strategy",
    "StrategySection",
    "TrainConfig",
    "Trainer",
]
