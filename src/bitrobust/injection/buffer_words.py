"""How an activation buffer stores one module's output as words (DESIGN contracts 1, 5 and 7).

Buffer formats are the number formats of :mod:`bitrobust.formats` (``get_format(name)``), the same names as
for weights. What is particular to activations is the range: a module's output has no range of its own
before it is computed, so fixed point per tensor (contract 1, paper 3 Sec. 4.1) takes the range
calibrated for that module on a calibration set (:class:`FixedPointWords`: values outside it saturate);
float formats (contract 5: fp32, fp16, bf16, fp8_e4m3, fp8_e5m2) need none (:class:`FloatWords`: the raw
bit pattern of the saturating cast). Per-channel and per-group fixed point (``int8_channel``,
``int4_g128``) keep ranges as metadata words computed from the stored tensor itself, which activation
calibration does not provide: they are refused with the list of valid names.

A buffer codec is anything with ``bits`` m, ``encode(tensor) -> codes`` (words in [0, 2^m)) and
``decode(codes) -> tensor``; bit errors act on the words only: a read is the round trip
``decode(encode(t))`` (:func:`round_trip`) with the flipped words decoded from ``encode(t) ^ flips``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from bitrobust.errors import BitrobustError
from bitrobust.formats import FORMATS, FloatFormat, decode_float, encode_float, get_format, saturating_cast
from bitrobust.quantization import (
    FixedPointQuantizer,
    dequantize_codes,
    dequantize_levels,
    quantize_codes,
    quantize_levels,
)


class WordCodec(Protocol):
    """Turns a float tensor into m-bit words (unsigned integers in [0, 2^m)) and back."""

    bits: int

    def encode(self, t: torch.Tensor) -> torch.Tensor: ...

    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...


BufferFormat = FixedPointQuantizer | FloatFormat | WordCodec  # a quantizer still needs its range (calibration)


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

    def round_trip(self, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``out`` = ``decode(encode(t))``, exactly, in fewer passes over ``t``: contract 1's levels v stay
        floats (``quantize_levels``) and decode in place (``dequantize_levels``: the table's arithmetic), in
        ``out`` itself when it is float32 like them (m >= 2).

        >>> codec = FixedPointWords(FixedPointQuantizer(8), (0.0, 2.0))
        >>> codec.round_trip(torch.tensor([0.0, 1.0, 3.0]), torch.empty(3)).tolist()
        [0.0, 1.0, 2.0]
        """
        q = self.quantizer
        direct = out.dtype == torch.float32 and torch.promote_types(t.dtype, torch.float32) == torch.float32
        v = quantize_levels(t, q.bits, q.scheme, self.qrange, out if direct else None)
        values = dequantize_levels(v, q.bits, q.scheme, self.qrange)
        return out if direct else out.copy_(values)


def round_trip(codec: WordCodec, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``t`` stored in ``codec``'s words and read back without errors into ``out``: ``decode(encode(t))``.

    >>> round_trip(FixedPointWords(FixedPointQuantizer(1), (-1.0, 1.0)), torch.tensor([0.3, -2.0]), torch.empty(2))
    tensor([ 1., -1.])
    """
    if isinstance(codec, FloatWords) or (isinstance(codec, FixedPointWords) and codec.bits > 1):
        return codec.round_trip(t, out)
    return out.copy_(codec.decode(codec.encode(t)))


@dataclass(frozen=True)
class FloatWords:
    """A float format's words: the bit pattern of each value cast (saturating) to ``fmt``'s dtype
    (``encode_float``), decoded exactly (``decode_float``: a flip may give inf or NaN).

    >>> codec = FloatWords(get_format("fp16"))
    >>> codes = codec.encode(torch.tensor([1.0, -2.0, 1e6]))
    >>> [hex(c) for c in codes.tolist()], codec.decode(codes ^ (1 << 14)).tolist()
    (['0x3c00', '0xc000', '0x7bff'], [inf, -0.0, 0.99951171875])
    """

    fmt: FloatFormat

    @property
    def bits(self) -> int:
        return self.fmt.bits

    def encode(self, t: torch.Tensor) -> torch.Tensor:
        return encode_float(t, self.fmt.float_dtype)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return decode_float(codes, self.fmt.float_dtype)

    def round_trip(self, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``out`` = ``decode(encode(t))``: the saturating cast itself (the words are its exact bits).

        >>> FloatWords(get_format("fp8_e4m3")).round_trip(torch.tensor([0.3, 1000.0]), torch.empty(2)).tolist()
        [0.3125, 448.0]
        """
        return out.copy_(saturating_cast(t, self.fmt.float_dtype))


def activation_formats() -> list[str]:
    """The registered format names that activation buffers take: per-tensor fixed point and floats.

    >>> activation_formats()[:5], "int8" in activation_formats(), "int4_g128" in activation_formats()
    (['bf16', 'fp16', 'fp32', 'fp8_e4m3', 'fp8_e5m2'], True, False)
    """
    return [n for n in FORMATS.names() if isinstance(get_format(n), (FixedPointQuantizer, FloatFormat))]


def buffer_format(fmt: str | BufferFormat) -> BufferFormat:
    """A format by its registry name (``bitrobust.formats``), or the given quantizer, float format or codec.

    >>> buffer_format("int8").bits, buffer_format("bf16").bits, buffer_format("fp8_e4m3").bits
    (8, 16, 8)
    """
    if isinstance(fmt, str):
        if fmt in FORMATS and fmt not in activation_formats():
            raise BitrobustError(f"activation format {fmt!r} needs ranges per channel or group, which activation "
                                 f"calibration does not give; valid: {', '.join(activation_formats())}")
        if fmt not in FORMATS:
            raise BitrobustError(f"unknown activation format {fmt!r}; valid: {', '.join(activation_formats())}")
        return get_format(fmt)
    codec = all(hasattr(fmt, a) for a in ("bits", "encode", "decode"))
    if isinstance(fmt, (FixedPointQuantizer, FloatFormat)) or codec:
        return fmt
    raise BitrobustError(f"{type(fmt).__name__} is not an activation format (per-channel/group formats are not); "
                         f"valid: a FixedPointQuantizer, a float format, or a name: {', '.join(activation_formats())}")


def needs_range(fmt: BufferFormat) -> bool:
    """Does the format need a calibrated range (fixed point)?"""
    return isinstance(fmt, FixedPointQuantizer)


def codec_for(fmt: BufferFormat, qrange: tuple[float, float] | None) -> WordCodec:
    """The words of one module's output: fixed point in the module's calibrated range (``fmt``'s rule:
    [min, max] if asymmetric, [-q, q] with q = max |x| if symmetric), float words, or ``fmt`` itself.

    >>> codec_for(FixedPointQuantizer(8, "normal"), (-1.0, 3.0)).qrange
    (-3.0, 3.0)
    """
    if isinstance(fmt, FloatFormat):
        return FloatWords(fmt)
    if not needs_range(fmt):
        return fmt
    if qrange is None:
        raise BitrobustError("fixed-point activation buffers need a calibrated range (pass calibration=)")
    return FixedPointWords(fmt, fmt.range_of(torch.tensor(qrange, dtype=torch.float64)))
