"""Number formats (DESIGN contract 5): per-tensor, per-channel and per-group fixed point, IEEE and fp8 words."""

from bitrobust.formats.floats import (FloatFormat, FloatTensor, decode_float, encode_float, float_fields,
                                     saturating_cast)
from bitrobust.formats.grouped import GroupedFixedPoint, GroupedTensor, group_ranges
from bitrobust.formats.registry import FORMATS, fixed, format_name, get_format

__all__ = [
    "FORMATS",
    "FloatFormat",
    "FloatTensor",
    "GroupedFixedPoint",
    "GroupedTensor",
    "decode_float",
    "encode_float",
    "fixed",
    "float_fields",
    "format_name",
    "get_format",
    "group_ranges",
    "saturating_cast",
]
