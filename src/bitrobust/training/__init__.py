"""Training: one trainer with pluggable strategies (normal QAT, clipping, RandBET, ...).

Strategies see a :class:`StepContext` (model, loss, optimizer, quantization), never the
trainer; :class:`RobustTraining` runs their steps in any PyTorch loop, and the trainer
trains through it; optimizers, learning-rate schedules and the error sources of bit error training
are chosen by name from :data:`OPTIMIZERS`, :data:`SCHEDULES` and :data:`TRAINING_ERRORS`.
"""

from bitrobust.training.config import (
    DataSection,
    EvalSection,
    ModelSection,
    QuantSection,
    StrategySection,
    TrainConfig,
)
from bitrobust.training.context import StepContext
from bitrobust.training.error_sources import TRAINING_ERRORS
from bitrobust.training.optim import OPTIMIZERS, SCHEDULES, OptimSection
from bitrobust.training.robust import RobustTraining
from bitrobust.training.strategies import STRATEGIES, StepResult, Strategy
from bitrobust.training.trainer import Trainer
from bitrobust.training import randbet  # noqa: E402,F401  (registers randbet, curricular_randbet, alternating_randbet, pattbet)
from bitrobust.training import bnn  # noqa: E402,F401  (registers bnn)

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "STRATEGIES",
    "TRAINING_ERRORS",
    "DataSection",
    "EvalSection",
    "ModelSection",
    "OptimSection",
    "QuantSection",
    "RobustTraining",
    "StepContext",
    "StepResult",
    "Strategy",
    "StrategySection",
    "TrainConfig",
    "Trainer",
]
