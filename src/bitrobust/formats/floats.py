"""IEEE and fp8 floating-point words: the raw bit pattern is the stored word (DESIGN contract 5).

``fp32``, ``fp16``, ``bf16``, ``fp8_e4m3`` (the "fn" variant of Micikevicius et al., "FP8 Formats for Deep
Learning", 2022: no infinities, NaN only at S.1111.111) and ``fp8_e5m2`` store a weight as its bit pattern:
bit m-1 is the sign, then the exponent, then the mantissa, bit 0 the mantissa's least significant bit.
Encoding is torch's cast (round to nearest, ties to even) after saturating to the largest finite value;
decoding reinterprets the -- possibly flipped -- word exactly, so a flipped exponent bit can give inf or NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bitrobust.quantization.fixed_point import StoredWords

_SIGNED_VIEW = {8: torch.uint8, 16: torch.int16, 32: torch.int32}  # same-size integer dtypes to view through


def saturating_cast(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` in ``dtype``: clamp to +-max finite (saturation; NaN stays NaN), round to nearest even.

    >>> saturating_cast(torch.tensor([1.0, 1e6]), torch.float16).tolist()
    [1.0, 65504.0]
    """
    big = torch.finfo(dtype).max
    return x.detach().to(torch.promote_types(x.dtype, torch.float32)).clamp(-big, big).to(dtype)


def encode_float(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Words (int64 in [0, 2^m); uint8 for 8-bit formats) of ``x`` cast to ``dtype``: the bits of
    :func:`saturating_cast`.

    >>> encode_float(torch.tensor([1.0, -2.0, 1e6]), torch.float16).tolist()  # 1e6 saturates to 65504
    [15360, 49152, 31743]
    """
    bits = torch.finfo(dtype).bits
    words = saturating_cast(x, dtype).view(_SIGNED_VIEW[bits])
    return words if bits == 8 else words.to(torch.int64) & ((1 << bits) - 1)


def decode_float(words: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The ``dtype`` values whose bit patterns are ``words`` (exactly: inf and NaN patterns stay so).

    >>> decode_float(torch.tensor([15360, 31744, 32767]), torch.float16).tolist()
    [1.0, inf, nan]
    """
    # integer narrowing keeps the low m bits (two's complement wrap-around): the pattern in an m-bit view
    return words.to(_SIGNED_VIEW[torch.finfo(dtype).bits]).view(dtype)


def float_fields(dtype: torch.dtype) -> tuple[int, int]:
    """(exponent bits, mantissa bits) of the float words of ``dtype``; the sign is the remaining top bit.
    The mantissa has f bits where the machine epsilon is 2^-f.

    >>> float_fields(torch.float16), float_fields(torch.bfloat16), float_fields(torch.float8_e4m3fn)
    ((5, 10), (8, 7), (4, 3))
    """
    info = torch.finfo(dtype)
    mantissa = round(-math.log2(info.eps))
    return info.bits - 1 - mantissa, mantissa


@dataclass(frozen=True)
class FloatTensor(StoredWords):
    """A tensor stored as float words: ``codes`` are the bit patterns, ``dtype`` the tensor's own dtype."""

    codes: torch.Tensor
    bits: int
    float_dtype: torch.dtype
    dtype: torch.dtype = torch.float32

    def dequantize(self) -> torch.Tensor:
        return decode_float(self.codes, self.float_dtype).to(self.dtype)


@dataclass(frozen=True)
class FloatFormat:
    """Weights stored as ``dtype`` words (see the module docstring).

    >>> fmt = FloatFormat("bf16", torch.bfloat16)
    >>> stored = fmt.quantize(torch.tensor([1.0, 3.14159]))
    >>> stored.codes.tolist(), stored.dequantize().tolist()
    ([16256, 16457], [1.0, 3.140625])
    """

    name: str
    float_dtype: torch.dtype

    @property
    def bits(self) -> int:
        return torch.finfo(self.float_dtype).bits

    def quantize(self, t: torch.Tensor) -> FloatTensor:
        return FloatTensor(encode_float(t, self.float_dtype), self.bits, self.float_dtype, t.dtype)

    def fake_quantize(self, t: torch.Tensor) -> torch.Tensor:
        """The cast weights in the forward pass, identity gradient (straight-through)."""
        return t + (self.quantize(t).dequantize() - t).detach()
