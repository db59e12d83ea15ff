"""Quantizing a whole ``nn.Module``: every floating-point parameter, in a linear layout.

The quantized state of a model is its floating-point parameters in
``named_parameters()`` order (optionally also floating-point buffers such as batch
norm statistics), each quantized with the same quantizer -- per tensor, or with one
range over all of them for ``global`` schemes -- or with any number format of ``bitrobust.formats``
(contract 5). Word i of the whole model sits at ``word_offsets[name] + index within the tensor``, the
memory layout of contract 2; metadata words follow the data (layout v2, :mod:`.layout`).
Nothing here knows about layer types, so any model works.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Protocol

import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.quantization.fixed_point import METADATA_BITS, FixedPointQuantizer, merge_ranges
from bitrobust.quantization.layout import REGIONS, ErrorModel, Segment, plan_segments, read_segment


def quantizable_tensors(
    model: nn.Module, exclude: Iterable[str] = (), include_buffers: bool = False
) -> "OrderedDict[str, torch.Tensor]":
    """Floating-point parameters (and buffers if asked) not matching any ``exclude`` glob."""
    patterns = tuple(exclude)
    items = list(model.named_parameters())
    if include_buffers:
        items += list(model.named_buffers())
    return OrderedDict(
        (name, t)
        for name, t in items
        if t.is_floating_point() and not any(fnmatch.fnmatchcase(name, p) for p in patterns)
    )


class EncodedTensor(Protocol):
    """One tensor as stored: data words ``codes`` (``bits`` wide, the tensor's shape) and metadata words
    (flat, :data:`METADATA_BITS` wide: per-channel/group ranges; empty for per-tensor formats), and the
    tensor they decode to. :class:`~bitrobust.quantization.QuantizedTensor` is one; ``bitrobust.formats``
    has the others (contract 5)."""

    codes: torch.Tensor
    bits: int

    @property
    def metadata(self) -> torch.Tensor: ...

    def with_codes(self, codes: torch.Tensor) -> "EncodedTensor": ...

    def with_metadata(self, words: torch.Tensor) -> "EncodedTensor": ...

    def dequantize(self) -> torch.Tensor: ...


class Quantizer(Protocol):
    """A number format at the level of tensors: ``FixedPointQuantizer`` or a ``bitrobust.formats`` format."""

    bits: int

    def quantize(self, t: torch.Tensor) -> EncodedTensor: ...

    def fake_quantize(self, t: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class QuantizedState:
    """Encoded tensors of a model by name, in memory-layout order (layout v2: :mod:`.layout`).

    ``bits`` is the width of the data words (the format's); metadata words are :data:`METADATA_BITS` wide.
    """

    tensors: "OrderedDict[str, EncodedTensor]"
    bits: int

    @property
    def word_offsets(self) -> dict[str, int]:
        """Index of each tensor's first data word (its first bit address is this times ``bits``)."""
        offsets, pos = {}, 0
        for name, qt in self.tensors.items():
            offsets[name] = pos
            pos += qt.codes.numel()
        return offsets

    @property
    def num_words(self) -> int:
        return sum(qt.codes.numel() for qt in self.tensors.values())

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The data and metadata segments of layout v2 with their bit addresses.

        >>> from bitrobust.quantization import FixedPointQuantizer
        >>> state = quantize_tensors({"w": torch.zeros(3), "b": torch.zeros(2)}, FixedPointQuantizer(4))
        >>> [(s.region, s.names, s.bit_offset, s.stop) for s in state.segments]
        [('data', ('w', 'b'), 0, 20)]
        """
        items = self.tensors.items()
        return plan_segments([("data", n, qt.bits, qt.codes.numel()) for n, qt in items]
                             + [("metadata", n, METADATA_BITS, qt.metadata.numel()) for n, qt in items])

    def dequantize(self) -> dict[str, torch.Tensor]:
        return {name: qt.dequantize() for name, qt in self.tensors.items()}

    def flat_codes(self) -> torch.Tensor:
        """All data words of the model in layout order, one flat tensor (uint8 for words of <= 8 bits)."""
        if not self.tensors:
            return torch.zeros(0, dtype=torch.uint8)
        return torch.cat([qt.codes.reshape(-1) for qt in self.tensors.values()])

    def flat_metadata(self) -> torch.Tensor:
        """All metadata words in layout order (int64 values in [0, 2^16))."""
        return torch.cat([torch.zeros(0, dtype=torch.int64)] + [qt.metadata.reshape(-1) for qt in self.tensors.values()])

    def with_flat_codes(self, flat: torch.Tensor, metadata: torch.Tensor | None = None) -> "QuantizedState":
        """The same state with its data words replaced by ``flat`` (layout order), and its metadata words
        by ``metadata`` if given."""
        if flat.numel() != self.num_words:
            raise ValueError(f"expected {self.num_words} words, got {flat.numel()}")
        out, pos, mpos = OrderedDict(), 0, 0
        for name, qt in self.tensors.items():
            n = qt.codes.numel()
            qt2 = qt.with_codes(flat[pos : pos + n].view(qt.codes.shape).to(qt.codes.dtype))
            pos += n
            if metadata is not None and qt.metadata.numel():
                k = qt.metadata.numel()
                qt2 = qt2.with_metadata(metadata[mpos : mpos + k].view(qt.metadata.shape))
                mpos += k
            out[name] = qt2
        return QuantizedState(out, self.bits)

    def with_errors(self, errors: ErrorModel, regions: Iterable[str] = ("data",)) -> "QuantizedState":
        """The state as read from a faulty memory: ``errors`` applied, segment by segment, to the words of
        the chosen ``regions`` (metadata is reliable unless asked: contract 6) at their layout-v2 addresses.

        >>> import torch
        >>> from bitrobust.quantization import FixedPointQuantizer
        >>> from bitrobust.bit_errors import RandomBitErrors
        >>> state = quantize_tensors({"w": torch.linspace(-1, 1, 64)}, FixedPointQuantizer(8))
        >>> state.with_errors(RandomBitErrors(0.0, chip=0)).flat_codes().equal(state.flat_codes())
        True
        """
        regions = set(regions)
        unknown = sorted(regions - set(REGIONS))
        if unknown:
            raise BitrobustError(f"unknown memory region {unknown[0]!r}; valid: {', '.join(REGIONS)}")
        flat = {"data": self.flat_codes(), "metadata": self.flat_metadata()}
        read: dict[str, list[torch.Tensor]] = {r: [] for r in REGIONS}
        pos = dict.fromkeys(REGIONS, 0)
        for seg in self.segments:
            words = flat[seg.region][pos[seg.region] : pos[seg.region] + seg.num_words]
            pos[seg.region] += seg.num_words
            read[seg.region].append(read_segment(words, seg, errors) if seg.region in regions else words)
        data = torch.cat(read["data"]) if len(read["data"]) != 1 else read["data"][0]
        meta = torch.cat(read["metadata"]) if read["metadata"] else None
        return self.with_flat_codes(data if read["data"] else flat["data"], meta)


def _shared_range(tensors: Mapping[str, torch.Tensor], quantizer: Quantizer) -> tuple[float, float] | None:
    """One range over all tensors for contract 1's ``global`` schemes, else None (each tensor its own)."""
    if isinstance(quantizer, FixedPointQuantizer) and quantizer.scheme.range == "global":
        return merge_ranges([quantizer.range_of(t) for t in tensors.values()])
    return None


def quantize_tensors(tensors: Mapping[str, torch.Tensor], quantizer: Quantizer) -> QuantizedState:
    """Quantize named tensors; ``global`` schemes share one range over all of them."""
    shared = _shared_range(tensors, quantizer)
    if shared is None:
        out = OrderedDict((name, quantizer.quantize(t)) for name, t in tensors.items())
    else:
        out = OrderedDict((name, quantizer.quantize(t, shared)) for name, t in tensors.items())
    return QuantizedState(out, quantizer.bits)


def quantize_model(
    model: nn.Module,
    quantizer: Quantizer,
    exclude: Iterable[str] = (),
    include_buffers: bool = False,
) -> QuantizedState:
    """Quantize every floating-point parameter of ``model`` (see module docstring)."""
    return quantize_tensors(quantizable_tensors(model, exclude, include_buffers), quantizer)


def fake_quantize_tensors(tensors: Mapping[str, torch.Tensor], quantizer: Quantizer) -> dict[str, torch.Tensor]:
    """Q^-1(Q(w)) for each tensor with straight-through gradients (quantization-aware training)."""
    shared = _shared_range(tensors, quantizer)
    if shared is None:
        return {name: quantizer.fake_quantize(t) for name, t in tensors.items()}
    return {name: quantizer.fake_quantize(t, shared) for name, t in tensors.items()}


@contextlib.contextmanager
def restored(model: nn.Module) -> Iterator[nn.Module]:
    """Run the ``with`` block on ``model`` and give it back as it was: every parameter and buffer
    bit for bit, and its training mode (also when the block raises).

    >>> import torch
    >>> lin = torch.nn.Linear(2, 2)
    >>> before = lin.weight.detach().clone()
    >>> with restored(lin):
    ...     load_tensors(lin, {"weight": torch.zeros(2, 2)})
    >>> bool(lin.weight.equal(before))
    True
    """
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    try:
        yield model
    finally:
        model.load_state_dict(original)
        model.train(was_training)


@torch.no_grad()
def load_tensors(model: nn.Module, tensors: Mapping[str, torch.Tensor]) -> None:
    """Copy ``tensors`` into the parameters/buffers of ``model`` with the same names."""
    targets = dict(model.named_parameters())
    targets.update(model.named_buffers())
    for name, value in tensors.items():
        targets[name].copy_(value)
