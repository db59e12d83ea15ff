"""How activation buffers store a module's output as words (DESIGN contracts 1, 5 and 7).

A buffer format is anything with ``bits`` m, ``encode(tensor) -> codes`` (unsigned integer words in
[0, 2^m)) and ``decode(codes) -> tensor``; bit errors act on the words only. Two kinds are built in:

- fixed point (contract 1, paper 3 Sec. 4.1): a :class:`~bitrobust.quantization.FixedPointQuantizer`
  with the range of one module's output calibrated on a calibration set (:class:`FixedPointWords`
  calls contract 1's ``quantize_codes`` / ``dequantize_codes``; values outside the range saturate);
- IEEE floats (contract 5): the word is the raw bit pattern of the value cast to fp16, bf16 or fp32
  (round to nearest even), ``tensor.to(dtype).view(int dtype)``; a flipped word decodes exactly, so a
  flip may give inf or NaN.

This file is the one place that names activation formats (``BUFFER_FORMATS``: int8, int4, fp16, bf16,
fp32); once the number formats of contract 5 land, their registry can replace it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from bitrobust.errors import BitrobustError
from bitrobust.quantization import FixedPointQuantizer, dequantize_codes, quantize_codes
from bitrobust.registry import Registry


class WordCodec(Protocol):
    """Turns a float tensor into m-bit words (unsigned integers in [0, 2^m)) and back."""

    bits: int

    def encode(self, t: torch.Tensor) -> torch.Tensor: ...

    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class FixedPointWords:
    """Contract 1's words of ``quantizer`` in the fixed range ``qrange`` (one module's calibrated range).

    Encoding calls ``quantize_codes``; decoding looks each word up in the table
    ``dequantize_codes(0, 1, ..., 2^m - 1)`` (one gather instead of decoding arithmetic), so both
    give exactly contract 1's values.

    >>> codec = FixedPointWords(FixedPointQuantizer(8), (0.0, 2.0))
    >>> codes = codec.encode(torch.tensor([0.0, 1.0, 3.0]))
    >>> codes.tolist(), codec.decode(codes).tolist()
    ([0, 127, 254], [0.0, 1.0, 2.0])
    """

    quantizer: FixedPointQuantizer
    qrange: tuple[float, float]
    _tables: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def bits(self) -> int:
        return self.quantizer.bits

    def encode(self, t: torch.Tensor) -> torch.Tensor:
        return quantize_codes(t, self.quantizer.bits, self.quantizer.scheme, self.qrange)

    def table(self, device: torch.device) -> torch.Tensor:
        """The decoded value of every word 0 .. 2^m - 1 (contract 1's dequantization), on ``device``."""
        if device not in self._tables:
            words = torch.arange(2**self.bits, dtype=torch.uint8)
            values = dequantize_codes(words, self.quantizer.bits, self.quantizer.scheme, self.qrange)
            self._tables[device] = values.to(device)
        return self._tables[device]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.table(codes.device).index_select(0, codes.reshape(-1).to(torch.int32)).view(codes.shape)


_INT_VIEW = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32}
_CODE_DTYPE = {16: torch.int32, 32: torch.int64}  # holds the unsigned words


@dataclass(frozen=True)
class FloatWords:
    """The raw IEEE bit pattern of each value cast to ``dtype`` (bit m-1 the sign, bit 0 the mantissa's last).

    >>> codec = FloatWords(torch.float16)
    >>> codes = codec.encode(torch.tensor([1.0, -2.0]))
    >>> [hex(c) for c in codes.tolist()], codec.decode(codes ^ (1 << 14)).tolist()
    (['0x3c00', '0xc000'], [inf, -0.0])
    """

    dtype: torch.dtype

    def __post_init__(self) -> None:
        if self.dtype not in _INT_VIEW:
            raise BitrobustError(f"no float buffer format for {self.dtype}; valid: float16, bfloat16, float32")

    @property
    def bits(self) -> int:
        return torch.finfo(self.dtype).bits

    def encode(self, t: torch.Tensor) -> torch.Tensor:
        words = t.detach().to(self.dtype).view(_INT_VIEW[self.dtype])  # signed view of the bit pattern
        return words.to(_CODE_DTYPE[self.bits]).bitwise_and_((1 << self.bits) - 1)  # the same bits, unsigned

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        # integer narrowing keeps the low m bits (two's complement wrap-around), i.e. the signed view
        return codes.to(_INT_VIEW[self.dtype]).view(self.dtype)


BufferFormat = FixedPointQuantizer | WordCodec  # a quantizer still needs its range (calibration)

BUFFER_FORMATS: Registry[BufferFormat] = Registry("activation format")
BUFFER_FORMATS.add("int8", FixedPointQuantizer(8, "rquant"))
BUFFER_FORMATS.add("int4", FixedPointQuantizer(4, "rquant"))
BUFFER_FORMATS.add("fp16", FloatWords(torch.float16))
BUFFER_FORMATS.add("bf16", FloatWords(torch.bfloat16))
BUFFER_FORMATS.add("fp32", FloatWords(torch.float32))


def buffer_format(fmt: str | BufferFormat) -> BufferFormat:
    """A format by name (``BUFFER_FORMATS``), or the given quantizer/codec as is.

    >>> buffer_format("int8").bits, buffer_format("bf16").bits
    (8, 16)
    """
    return BUFFER_FORMATS.get(fmt) if isinstance(fmt, str) else fmt


def needs_range(fmt: BufferFormat) -> bool:
    """Does the format need a calibrated range (fixed point)?"""
    return isinstance(fmt, FixedPointQuantizer)


def codec_for(fmt: BufferFormat, qrange: tuple[float, float] | None) -> WordCodec:
    """The words of one module's output: fixed point in the module's calibrated range, else ``fmt`` itself."""
    if not needs_range(fmt):
        return fmt
    if qrange is None:
        raise BitrobustError("fixed-point activation buffers need a calibrated range (pass calibration=)")
    return FixedPointWords(fmt, fmt.range_of(torch.tensor(qrange, dtype=torch.float64)))
