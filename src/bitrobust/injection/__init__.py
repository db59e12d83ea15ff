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
from bitrobust.injection.buffer_formats import BUFFER_FORMATS, FixedPointWords, FloatWords, buffer_format
from bitrobust.injection.weights import faulty_copy, inject, load_faulty_weights

__all__ = [
    "BUFFER_FORMATS",
    "ActivationCalibration",
    "ActivationFaults",
    "FixedPointWords",
    "FloatWords",
    "activation_faults",
    "buffer_format",
    "calibrate_activations",
    "faulty_copy",
    "inject",
    "load_faulty_weights",
    "match_modules",
    "recording_ranges",
]
