"""Number formats by name (DESIGN contract 5): ``bitrobust train/eval --format NAME``.

A format turns a float tensor into stored words and back (``quantize(t)`` -> words + metadata words,
``.dequantize()``). Names:

- ``int1`` .. ``int8``: contract 1's RQUANT with a range per tensor (``int8`` is the default of paper 3);
  ``normal1`` .. ``normal8``: the paper's NORMAL. These are :class:`FixedPointQuantizer` itself, so their
  results are contract 1's and 2's bit for bit; any other scheme: ``fixed(bits, scheme)``.
- ``int8_channel``, ``int4_channel``: RQUANT with one range per output channel (dim 0);
  ``int4_g128``, ``int8_g128``: RQUANT (asymmetric) with one range per group of 128 weights of a row.
  Their ranges are fp16 metadata words in memory (:mod:`bitrobust.formats.grouped`).
- ``fp32``, ``fp16``, ``bf16``, ``fp8_e4m3``, ``fp8_e5m2``: raw float words (:mod:`bitrobust.formats.floats`).
"""

from __future__ import annotations

import functools
from typing import Callable

import torch

from bitrobust.errors import BitrobustError
from bitrobust.formats.floats import FloatFormat
from bitrobust.formats.grouped import GroupedFixedPoint
from bitrobust.quantization import FixedPointQuantizer, QuantScheme
from bitrobust.quantization.model import Quantizer
from bitrobust.registry import Registry

GRANULARITIES = ("tensor", "channel")


def fixed(bits: int, scheme: str | QuantScheme = "rquant", granularity: str | int = "tensor",
          name: str | None = None) -> Quantizer:
    """Fixed point: contract 1 per tensor (``"tensor"``: a FixedPointQuantizer), per output channel
    (``"channel"``) or per group of ``granularity`` (an int) weights of each output row.

    >>> fixed(8).bits, type(fixed(4, granularity=128)).__name__
    (8, 'GroupedFixedPoint')
    """
    if granularity == "tensor":
        return FixedPointQuantizer(bits, scheme)
    if granularity == "channel":
        return GroupedFixedPoint(name or f"fixed{bits}_channel", bits, scheme, None)
    if isinstance(granularity, int) and not isinstance(granularity, bool):
        return GroupedFixedPoint(name or f"fixed{bits}_g{granularity}", bits, scheme, granularity)
    raise BitrobustError(f"unknown granularity {granularity!r}; valid: {', '.join(GRANULARITIES)}, or a group size")


FORMATS: Registry[Callable[[], Quantizer]] = Registry("number format")
for _m in range(1, 9):
    FORMATS.add(f"int{_m}", functools.partial(fixed, _m, "rquant"))
    FORMATS.add(f"normal{_m}", functools.partial(fixed, _m, "normal"))
for _m in (4, 8):
    FORMATS.add(f"int{_m}_channel", functools.partial(fixed, _m, "rquant", "channel", f"int{_m}_channel"))
    FORMATS.add(f"int{_m}_g128", functools.partial(fixed, _m, "rquant", 128, f"int{_m}_g128"))
for _name, _dtype in (("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16),
                      ("fp8_e4m3", torch.float8_e4m3fn), ("fp8_e5m2", torch.float8_e5m2)):
    FORMATS.add(_name, functools.partial(FloatFormat, _name, _dtype))


def get_format(name: str) -> Quantizer:
    """The format registered as ``name`` (an unknown name lists the valid ones).

    >>> get_format("bf16").bits, get_format("int4_g128").group
    (16, 128)
    """
    return FORMATS.get(name)()


def format_name(quantizer: Quantizer) -> str | None:
    """The registered name of a format that is not plain contract 1 (None for a FixedPointQuantizer).

    >>> format_name(get_format("fp8_e4m3")), format_name(get_format("int8"))
    ('fp8_e4m3', None)
    """
    return None if isinstance(quantizer, FixedPointQuantizer) else quantizer.name
