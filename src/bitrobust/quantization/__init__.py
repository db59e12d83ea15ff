"""Fixed-point quantization (contract 1): quantizers, quantized tensors, model-level helpers."""

from bitrobust.quantization.fixed_point import (
    SCHEMES,
    FixedPointQuantizer,
    QuantizedTensor,
    QuantScheme,
    decode_words,
    dequantize_codes,
    dequantize_levels,
    level_words,
    quantize_codes,
    quantize_levels,
)
from bitrobust.quantization.model import (
    QuantizedState,
    fake_quantize_tensors,
    load_tensors,
    quantizable_tensors,
    quantize_model,
    quantize_tensors,
    restored,
)

__all__ = [
    "SCHEMES",
    "FixedPointQuantizer",
    "QuantScheme",
    "QuantizedState",
    "QuantizedTensor",
    "decode_words",
    "dequantize_codes",
    "dequantize_levels",
    "fake_quantize_tensors",
    "level_words",
    "load_tensors",
    "quantizable_tensors",
    "quantize_codes",
    "quantize_levels",
    "quantize_model",
    "quantize_tensors",
    "restored",
]
