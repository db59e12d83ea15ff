"""bitrobust: bit error robustness for quantized and binarized neural networks.

The toolkit covers the loop described in ``DESIGN.md``: quantize or binarize the
weights, inject bit errors the way low-voltage memory makes them, train for
robustness and measure it (RErr, T^b, VAR(Pi)). The most used names are available
here (imported on first use, so ``import bitrobust`` stays fast)::

    from bitrobust import FixedPointQuantizer, RandomBitErrors, inject, evaluate_robustness

Papers: D. Stutz, N. Chandramoorthy, M. Hein, B. Schiele, "Bit Error Robustness for
Energy-Efficient DNN Accelerators", MLSys 2021; S. Buschjäger, J.-J. Chen, K.-H. Chen,
M. Günzel, K. Morik, R. Novkin, L. Pfahler, M. Yayla, "Bit Error Tolerance Metrics for
Binarized Neural Networks"; S. Buschjäger, J.-J. Chen, K.-H. Chen, M. Günzel, C. Hakert,
K. Morik, R. Novkin, L. Pfahler, M. Yayla, "Towards Explainable Bit Error Tolerance of
Resistive RAM-Based Binarized Neural Networks".
"""

from __future__ import annotations

import importlib
from typing import Any

from bitrobust.version import __version__

#: public name -> module that defines it
_PUBLIC = {
    "FixedPointQuantizer": "bitrobust.quantization",
    "quantize_model": "bitrobust.quantization",
    "RandomBitErrors": "bitrobust.bit_errors",
    "Protection": "bitrobust.bit_errors",
    "inject": "bitrobust.injection",
    "faulty_copy": "bitrobust.injection",
    "activation_faults": "bitrobust.injection",
    "calibrate_activations": "bitrobust.injection",
    "Classification": "bitrobust.tasks",
    "CustomTask": "bitrobust.tasks",
    "evaluate_robustness": "bitrobust.evaluation",
    "evaluate": "bitrobust.evaluation",
    "load_run": "bitrobust.evaluation",
    "EVAL_KINDS": "bitrobust.evaluation",
    "RobustTraining": "bitrobust.training",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:  # PEP 562: import the defining module on first use
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'bitrobust' has no attribute {name!r}")
