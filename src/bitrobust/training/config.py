"""Training settings as frozen dataclasses, one section per concern (set by YAML recipes).

The defaults are paper 3's (App. F): batch size 128, quantization-aware training with
RQUANT at 8 bits, and the optimizer of :class:`~bitrobust.training.optim.OptimSection`
(SGD with Nesterov momentum, step schedule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bitrobust.bit_errors.protection import PROTECTION_FIELDS, protection_from
from bitrobust.config import OMIT_DEFAULT, check_range
from bitrobust.errors import BitrobustError
from bitrobust.formats import get_format
from bitrobust.quantization.fixed_point import check_bits, resolve_scheme
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
    block_size: int | None = field(default=None, metadata=OMIT_DEFAULT)  # text: tokens per block (default 128)

    def __post_init__(self) -> None:
        for name in ("batch_size", "test_batch_size", "train_subset", "test_subset", "block_size"):
            if getattr(self, name) is not None:
                check_range(f"data.{name}", getattr(self, name), low=1)
        if self.raw and self.normalize:
            raise BitrobustError("data.raw gives unnormalized pixel values 0..255: set data.normalize: false")


@dataclass(frozen=True)
class QuantSection:
    bits: int = 8
    scheme: str = "rquant"
    overrides: dict = field(default_factory=dict)  # single scheme fields, e.g. {rounding: trunc}
    during_training: bool = True  # False: post-training quantization (train in float)
    exclude: tuple[str, ...] = ()  # parameter-name globs left in float
    # a number format (bitrobust.formats, e.g. int4_g128, bf16) in place of bits/scheme/overrides
    format: str | None = field(default=None, metadata=OMIT_DEFAULT)

    def __post_init__(self) -> None:
        check_bits(self.bits)
        resolve_scheme(self.scheme, **self.overrides)  # a known scheme, known fields of the right types
        if self.format is not None:
            get_format(self.format)  # a known name
            if self.overrides:
                raise BitrobustError("quant.format replaces bits/scheme/overrides: give no overrides with it")


@dataclass(frozen=True)
class StrategySection:
    name: str = "normal"
    clip_w_max: float | None = None  # CLIPPING_w_max: weights clamped to [-w_max, w_max] after every update
    label_smoothing: float = 0.0  # the trainer's loss: cross-entropy with this label smoothing
    params: dict = field(default_factory=dict)  # strategy-specific settings

    def __post_init__(self) -> None:
        check_range("strategy.label_smoothing", self.label_smoothing, low=0.0, high=1.0)


@dataclass(frozen=True)
class EvalSection:
    """Defaults of ``bitrobust eval`` for the run: rates, chips and protection (contract 6; the fields of
    :class:`~bitrobust.bit_errors.protection.Protection`, left out of the config while unset)."""

    rates: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1)
    chips: int = 10
    protect_bits: str | int | None = field(default=None, metadata=OMIT_DEFAULT)  # e.g. msb, sign,exponent, 7
    protect_tensors: tuple[str, ...] = field(default=(), metadata=OMIT_DEFAULT)  # name globs
    target_tensors: tuple[str, ...] = field(default=(), metadata=OMIT_DEFAULT)
    target_bits: str | int | None = field(default=None, metadata=OMIT_DEFAULT)
    expose_metadata: bool = field(default=False, metadata=OMIT_DEFAULT)
    ecc: str | None = field(default=None, metadata=OMIT_DEFAULT)  # secded8, secded16, secded32, secded64
    ecc_policy: str = field(default="keep", metadata=OMIT_DEFAULT)

    def __post_init__(self) -> None:
        check_range("eval.chips", self.chips, low=1)
        for p in self.rates:
            check_range("eval.rates", p, low=0.0, high=1.0)
        protection_from({k: getattr(self, k) for k in PROTECTION_FIELDS})  # known names and fields


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
        check_range("epochs", self.epochs, low=1)
        if self.max_steps is not None:
            check_range("max_steps", self.max_steps, low=1)
        if self.strategy.clip_w_max is not None and not self.strategy.clip_w_max > 0:
            raise BitrobustError(f"strategy.clip_w_max must be > 0, got {self.strategy.clip_w_max}")
