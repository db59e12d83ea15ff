"""Training settings as frozen dataclasses, one section per concern (set by YAML recipes).

The defaults are paper 3's (App. F): batch size 128, quantization-aware training with
RQUANT at 8 bits, and the optimizer of :class:`~bitrobust.training.optim.OptimSection`
(SGD with Nesterov momentum, step schedule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bitrobust.errors import BitrobustError
from bitrobust.training.optim import OptimSection


@dataclass(frozen=True)
class ModelSection:
    name: str = "cnn_small"
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DataSection:
    name: str = "mnist"
    data_dir: str | None = None
    train_subset: int | None = None  # stratified subset of the training set (quick runs, smoke tests)
    test_subset: int | None = None
    augment: bool = False  # random crop 4, flip, Cutout 16 (paper 3 App. F, CIFAR)
    normalize: bool = True  # subtract the dataset mean, divide by its std
    raw: bool = False  # raw pixel values 0..255 as floats (binarized networks); needs normalize: false
    batch_size: int = 128
    test_batch_size: int = 1000

    def __post_init__(self) -> None:
        if self.raw and self.normalize:
            raise BitrobustError("data.raw gives unnormalized pixel values 0..255: set data.normalize: false")


@dataclass(frozen=True)
class QuantSection:
    bits: int = 8
    scheme: str = "rquant"
    overrides: dict = field(default_factory=dict)  # single scheme fields, e.g. {rounding: trunc}
    during_training: bool = True  # False: post-training quantization (train in float)
    exclude: tuple[str, ...] = ()  # parameter-name globs left in float


@dataclass(frozen=True)
class StrategySection:
    name: str = "normal"
    clip_w_max: float | None = None  # CLIPPING_w_max: weights clamped to [-w_max, w_max] after every update
    label_smoothing: float = 0.0  # the trainer's loss: cross-entropy with this label smoothing
    params: dict = field(default_factory=dict)  # strategy-specific settings


@dataclass(frozen=True)
class EvalSection:
    rates: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1)
    chips: int = 10


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    quant: QuantSection | None = field(default_factory=QuantSection)
    optim: OptimSection = field(default_factory=OptimSection)
    strategy: StrategySection = field(default_factory=StrategySection)
    eval: EvalSection = field(default_factory=EvalSection)
    epochs: int = 1
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    max_steps: int | None = None  # stop each epoch after this many steps (smoke tests)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise BitrobustError(f"epochs must be >= 1, got {self.epochs}")
        if self.strategy.clip_w_max is not None and not self.strategy.clip_w_max > 0:
            raise BitrobustError(f"strategy.clip_w_max must be > 0, got {self.strategy.clip_w_max}")
