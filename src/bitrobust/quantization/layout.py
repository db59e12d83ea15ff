"""Memory layout v2: where every stored word of a model sits in the bit address space (DESIGN contracts 2, 5).

Memory holds regions in this order: the *data* region (every tensor's words, ``named_parameters()`` order,
row-major), then the *metadata* region (same tensor order; each tensor's scales, then its zero points, as
16-bit words), then, when SECDED ECC is on, the *ecc* check region (the check bits of the data region's
k-bit codewords; :mod:`bitrobust.bit_errors.protection` lays it out and decodes it, since the codes live a
layer up). A word's first bit address is the sum of the widths of all words before it and bit j of the word
is that address + j. With one per-tensor format of m bits there
is no metadata and this is contract 2's a = i m + j, so every contract-2 chip result is unchanged.

A region is cut into *segments*: runs of consecutive words of one width. :func:`read_segment` turns a
segment's clean words into the words a faulty memory returns; protection masks and the ECC decoder
(:class:`bitrobust.bit_errors.protection.ProtectedMemory`) build on it, region by region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import torch

REGIONS = ("data", "metadata")
"""The regions of a quantized state in address order (the ``ecc`` check region of
:class:`~bitrobust.bit_errors.protection.ProtectedMemory` follows ``metadata``)."""


class ErrorModel(Protocol):
    """Anything that flips stored words: ``apply(codes, bits, word_offset=0, *, bit_offset=None) -> codes``.

    The words sit at bit addresses ``start + i bits`` with ``start = bit_offset`` if given, else
    ``word_offset * bits`` (contract 2). Error models that only know ``word_offset`` still work for
    every segment whose start is a multiple of its width (all contract-2 models).
    """

    def apply(self, codes: torch.Tensor, bits: int, word_offset: int = 0) -> torch.Tensor: ...


@dataclass(frozen=True)
class Segment:
    """``num_words`` words of ``bits`` bits each in region ``region``, from bit address ``bit_offset`` on,
    holding (part of) the tensors ``names`` in order."""

    region: str
    names: tuple[str, ...]
    bits: int
    num_words: int
    bit_offset: int

    @property
    def stop(self) -> int:
        """The first bit address after the segment."""
        return self.bit_offset + self.num_words * self.bits


def plan_segments(words: Sequence[tuple[str, str, int, int]]) -> tuple[Segment, ...]:
    """Segments of ``(region, name, bits, num_words)`` entries laid out in the given order: consecutive
    entries of one region and width share a segment; empty entries take no space.

    >>> segs = plan_segments([("data", "w", 8, 3), ("data", "b", 8, 1), ("metadata", "w", 16, 2)])
    >>> [(s.region, s.names, s.bit_offset, s.stop) for s in segs]
    [('data', ('w', 'b'), 0, 32), ('metadata', ('w',), 32, 64)]
    """
    out: list[Segment] = []
    address = 0
    for region, name, bits, n in words:
        if n == 0:
            continue
        last = out[-1] if out else None
        if last is not None and last.region == region and last.bits == bits:
            out[-1] = Segment(region, last.names + (name,), bits, last.num_words + n, last.bit_offset)
        else:
            out.append(Segment(region, (name,), bits, n, address))
        address += n * bits
    return tuple(out)


def read_segment(words: torch.Tensor, segment: Segment, errors: ErrorModel) -> torch.Tensor:
    """The flat ``words`` of ``segment`` as read through ``errors`` (same shape and dtype).

    >>> class FlipBit0:
    ...     def apply(self, codes, bits, word_offset=0, *, bit_offset=None):
    ...         return codes ^ 1
    >>> read_segment(torch.tensor([2, 4]), Segment("metadata", ("w",), 16, 2, 20), FlipBit0()).tolist()
    [3, 5]
    """
    if segment.bit_offset % segment.bits == 0:  # word-aligned: the contract-2 call every error model knows
        return errors.apply(words, segment.bits, segment.bit_offset // segment.bits)
    return errors.apply(words, segment.bits, bit_offset=segment.bit_offset)  # type: ignore[call-arg]
