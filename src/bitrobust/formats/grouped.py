"""Fixed point with one range per output channel or per group of g weights (DESIGN contract 5).

Contract 1's formulas (paper 3, Sec. 4.1: :mod:`bitrobust.quantization.fixed_point`) applied with one range
per group: the tensor is viewed as ``(shape[0], -1)`` (a 1-d tensor as one element per row) and each row is
cut into groups of ``g`` consecutive elements, the last one possibly shorter (``g = None``: one group per row,
i.e. per output channel). Unlike a per-tensor range, a group's range is stored in memory as metadata words
(16-bit fp16 patterns, saturated): the step Delta = (q_max - q_min) / (2 (2^(m-1) - 1)) (symmetric:
Delta = max|w| / (2^(m-1) - 1)), and for asymmetric schemes the minimum q_min. Words and weights are those of
contract 1 in the range the stored words give -- [q_min, q_min + 2 (2^(m-1) - 1) Delta], or +-(2^(m-1) - 1)
Delta -- so a flipped metadata word moves a whole group (possibly to inf/NaN).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bitrobust.errors import BitrobustError
from bitrobust.formats.floats import decode_float, encode_float
from bitrobust.quantization.fixed_point import (QuantScheme, StoredWords, dequantize_codes, levels, quantize_codes,
                                                resolve_scheme)


def _rows(t: torch.Tensor) -> torch.Tensor:
    """The tensor viewed as (shape[0], -1): one row per output channel (a scalar is one row)."""
    return t.reshape(t.shape[0] if t.dim() else 1, -1)


def group_ranges(t: torch.Tensor, group: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(min, max) of every group, float64 [rows, groups] (groups of ``group`` columns; None: whole rows).

    >>> lo, hi = group_ranges(torch.tensor([[1.0, 5.0, -2.0], [0.0, 3.0, 4.0]]), 2)
    >>> lo.tolist(), hi.tolist()
    ([[1.0, -2.0], [0.0, 4.0]], [[5.0, -2.0], [3.0, 4.0]])
    """
    x = _rows(t.detach()).to(torch.float64)
    cols = x.shape[1]
    g = max(cols, 1) if group is None else group
    n = -(-cols // g)
    pad = n * g - cols
    lo = F.pad(x, (0, pad), value=math.inf).view(len(x), n, g).amin(-1)
    hi = F.pad(x, (0, pad), value=-math.inf).view(len(x), n, g).amax(-1)
    return lo, hi


def _per_element(values: torch.Tensor, group: int | None, cols: int) -> torch.Tensor:
    """[rows, groups] -> [rows, cols]: each group's value repeated over its columns."""
    g = cols if group is None else group
    return values.repeat_interleave(g, dim=1)[:, :cols] if cols else values[:, :0]


@dataclass(frozen=True)
class GroupedTensor(StoredWords):
    """A tensor's words ``codes`` (its shape) and its metadata words ([1 or 2, rows, groups]: the steps,
    then the minima for asymmetric schemes) in a :class:`GroupedFixedPoint` format."""

    codes: torch.Tensor
    words: torch.Tensor
    bits: int
    scheme: QuantScheme
    group: int | None
    dtype: torch.dtype = torch.float32

    @property
    def metadata(self) -> torch.Tensor:
        return self.words

    def with_metadata(self, words: torch.Tensor) -> "GroupedTensor":
        return dataclasses.replace(self, words=words.view(self.words.shape))

    def qrange(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-element (q_min, q_max), float64, decoded from the (possibly flipped) metadata words."""
        cols = _rows(self.codes).shape[1]
        return range_from_words(self.words, self.bits, self.scheme, lambda v: _per_element(v, self.group, cols))

    def dequantize(self) -> torch.Tensor:
        codes = _rows(self.codes)
        return dequantize_codes(codes, self.bits, self.scheme, self.qrange(), self.dtype).view(self.codes.shape)


def range_from_words(words: torch.Tensor, bits: int, scheme: QuantScheme, expand=lambda v: v):
    """(q_min, q_max) in float64 from metadata words: +-L Delta (symmetric) or (q_min, q_min + 2 L Delta)."""
    lv = levels(bits)
    step = decode_float(words[0], torch.float16).to(torch.float64)
    if scheme.symmetric:
        q = expand(step * lv)
        return -q, q
    lo = decode_float(words[1], torch.float16).to(torch.float64)
    return expand(lo), expand(lo + 2 * lv * step)


@dataclass(frozen=True)
class GroupedFixedPoint:
    """Contract 1's ``scheme`` at ``bits`` (2..8) with a range per group of ``group`` elements of each
    output row (None: per output channel); ranges in fp16 metadata words (see the module docstring).

    >>> fmt = GroupedFixedPoint("int8_channel", 8, "rquant")
    >>> stored = fmt.quantize(torch.tensor([[0.0, 1.0], [-4.0, 4.0]]))
    >>> stored.codes.tolist(), stored.dequantize().tolist()
    ([[0, 254], [0, 254]], [[0.0, 0.99993896484375], [-4.0, 3.99951171875]])
    """

    name: str
    bits: int
    scheme: str | QuantScheme = "rquant"
    group: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 8:
            raise BitrobustError(f"per-channel/group fixed point needs bits in 2..8, got {self.bits!r}")
        if self.group is not None and (isinstance(self.group, bool) or not isinstance(self.group, int)
                                       or self.group < 1):
            raise BitrobustError(f"group size must be a positive integer, got {self.group!r}")
        object.__setattr__(self, "scheme", resolve_scheme(self.scheme))

    def quantize(self, t: torch.Tensor) -> GroupedTensor:
        """Metadata words from each group's range, then contract 1's words in the range they store."""
        if not t.is_floating_point():
            raise BitrobustError(f"can only quantize floating-point tensors, got {t.dtype}")
        lv = levels(self.bits)
        lo, hi = group_ranges(t, self.group)
        if self.scheme.symmetric:
            words = encode_float(torch.maximum(lo.abs(), hi.abs()) / lv, torch.float16)[None]
        else:
            words = torch.stack([encode_float((hi - lo) / (2 * lv), torch.float16), encode_float(lo, torch.float16)])
        rows = _rows(t)
        qrange = range_from_words(words, self.bits, self.scheme, lambda v: _per_element(v, self.group, rows.shape[1]))
        codes = quantize_codes(rows, self.bits, self.scheme, qrange)
        return GroupedTensor(codes.view(t.shape), words, self.bits, self.scheme, self.group, t.dtype)

    def fake_quantize(self, t: torch.Tensor) -> torch.Tensor:
        """Q^-1(Q(t)) in the forward pass, identity gradient (straight-through estimator)."""
        return t + (self.quantize(t).dequantize() - t).detach()
