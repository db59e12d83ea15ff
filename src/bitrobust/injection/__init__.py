"""The public verbs of fault injection: :func:`inject` (a context manager that restores the
model) and :func:`faulty_copy` for weights; :func:`activation_faults` (forward hooks) for the
activation buffers that hold chosen modules' outputs."""

from bitrobust.injection.activations import (
    ActivationCalibration,
    ActivationFaults,
    activation_faults,
    calibrate_activations,
    match_modules,
    recording_ranges,
)
from bitrobust.injection.buffer_words import (
    FixedPointWords,
    FloatWords,
    activation_formats,
    buffer_format,
    needs_range,
)
from bitrobust.injection.weights import faulty_copy, inject, load_faulty_weights

__all__ = [
    "ActivationCalibration",
    "ActivationFaults",
    "FixedPointWords",
    "FloatWords",
    "activation_faults",
    "activation_formats",
    "buffer_format",
    "calibrate_activations",
    "faulty_copy",
    "inject",
    "load_faulty_weights",
    "match_modules",
    "needs_range",
    "recording_ranges",
]
