"""The ``activations`` evaluation kind: RErr with bit errors in activation buffers (contract 7).

The outputs of the chosen modules (``modules``: globs over ``model.named_modules()``) are stored in a
buffer format (``int8``/``int4`` fixed point with ranges calibrated on the first
``calibration_examples`` training examples, or ``fp16``/``bf16``/``fp32`` words; the calibration
also fixes the persistent buffer layout) and read back with
``transient`` or ``persistent`` bit errors (:func:`~bitrobust.injection.activation_faults`); trial t
is activation chip ``first_chip + t`` (transient: the reads seeded from it), the same for every model.
The weights are the run's clean quantized weights -- or, with ``with_weight_errors``, read through
weight chip ``first_chip + t`` at the same rate, so both memories fail together. Err is the clean pass
with the activations stored in the format; the result has the shape of every RErr sweep (paper 3,
Sec. 5; contract 3), per (chip, p).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bitrobust.bit_errors import RandomBitErrors
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.kind import register_kind
from bitrobust.evaluation.robustness import RobustnessResult, evaluate_robustness
from bitrobust.evaluation.run import LoadedRun
from bitrobust.evaluation.sweep import SweepSettings, _count, _Sweep
from bitrobust.injection import activation_faults, buffer_format, calibrate_activations, inject
from bitrobust.injection.activations import MODES, bit_positions, match_modules


@dataclass(frozen=True)
class ActivationSettings(SweepSettings):
    """``activations``: a sweep (rates x chips) over faults in the buffers of ``modules``."""

    kind: str = "activations"
    modules: str = ""
    mode: str = "transient"
    act_format: str = "int8"  # the buffers' format (``format`` is the weights', as in every sweep)
    calibration_examples: int = 1000
    protect: tuple[Any, ...] = ()
    with_weight_errors: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.modules, str) or not self.modules.strip():
            raise BitrobustError("an activations evaluation needs the modules whose outputs are faulty "
                                 "(globs over model.named_modules(), e.g. 'features.*')")
        if self.mode not in MODES:
            raise BitrobustError(f"unknown activation fault mode {self.mode!r}; valid: {', '.join(MODES)}")
        object.__setattr__(self, "protect", tuple(int(b) if str(b).isdigit() else b for b in self.protect))
        bit_positions(buffer_format(self.act_format).bits, self.protect)  # an unknown format or bit is an error
        _count(self.calibration_examples, "the number of calibration examples")

    def to_dict(self) -> dict:
        out = {**super().to_dict(), "modules": self.modules, "mode": self.mode, "act_format": self.act_format,
               "calibration_examples": self.calibration_examples}
        if self.protect:
            out["protect"] = list(self.protect)
        if self.with_weight_errors:
            out["with_weight_errors"] = True
        return out


@dataclass(frozen=True)
class ActivationTrials:
    """The weight errors of each trial: none, or weight chip ``first + trial`` (``weights``)."""

    trials: int
    first: int = 0
    weights: bool = False
    name: str = "activations"

    def errors(self, trial: int, p: float) -> RandomBitErrors:
        return RandomBitErrors(p if self.weights else 0.0, chip=self.first + trial)


@register_kind
class ActivationKind(_Sweep):
    name = "activations"
    settings_type = ActivationSettings

    def check(self, run: LoadedRun, s: ActivationSettings) -> None:
        match_modules(run.model, s.modules)  # a glob that matches no module: one clear line, before any data

    def sweep(self, run, s, loader, quantizer, exclude, info, progress, data_dir=None) -> RobustnessResult:
        model = run.model
        with inject(model, quantizer, None, exclude):  # ranges of the outputs of the quantized model
            calibration_data = run.train_data(data_dir, s.calibration_examples, loader.batch_size)
            calibration = calibrate_activations(model, calibration_data, s.modules, task=run.task)
        info["activation_ranges"] = calibration.to_dict()

        def reads(trial: int | None, p: float):
            chip = s.first_chip + (trial or 0)
            return activation_faults(model, s.modules, p, s.mode, chip=chip, format=s.act_format,
                                     calibration=calibration, protect=s.protect)

        source = ActivationTrials(s.chips, s.first_chip, s.with_weight_errors)
        result = evaluate_robustness(model, loader, quantizer, list(s.rates), source, exclude=exclude,
                                     progress=progress, batch_stats=s.batch_stats, rerr=s.rerr, task=run.task,
                                     reads=reads, protection=s.protection())
        return dataclasses.replace(result, first_chip=s.first_chip)  # the activation chips pair like weight chips

    def what(self, s: ActivationSettings) -> str:
        unit = "read" if s.mode == "transient" else "chip"
        rates = ",".join(f"{100 * p:g}%" for p in s.rates)
        first = f" from chip {s.first_chip}" if s.first_chip else ""
        weights = ", weights read through the same chips" if s.with_weight_errors else ""
        protect = f", bits {','.join(map(str, s.protect))} protected" if s.protect else ""
        return (f"activations ({s.mode}, {s.act_format} buffers of {s.modules}) p={rates} x {s.chips} {unit}"
                f"{'s' if s.chips != 1 else ''}{first}{protect}{weights}")
