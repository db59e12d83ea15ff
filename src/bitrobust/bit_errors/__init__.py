"""Bit errors in quantized weights (contract 2): memory layout, chips, error models.

Errors act on the integer words of a :class:`~bitrobust.quantization.QuantizedState`
laid out linearly (word i of the model holds bits i*m .. i*m + m - 1), never on floats.
"""

from bitrobust.bit_errors.random_chips import (
    RandomBitErrors,
    TransientBitErrors,
    check_rate,
    chip_seed,
    flip_bits,
)

__all__ = ["RandomBitErrors", "TransientBitErrors", "check_rate", "chip_seed", "flip_bits"]
