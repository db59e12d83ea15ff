"""Quantizing a whole ``nn.Module``: every floating-point parameter, in a linear layout.

The quantized state of a model is its floating-point parameters in
``named_parameters()`` order (optionally also floating-point buffers such as batch
norm statistics), each quantized with the same quantizer -- per tensor, or with one
range over all of them for ``global`` schemes. Word i of the whole model sits at
``word_offsets[name] + index within the tensor``, the memory layout of contract 2.
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

from bitrobust.quantization.fixed_point import FixedPointQuantizer, QuantizedTensor, merge_ranges


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


class ErrorModel(Protocol):
    """Anything that flips stored words: ``apply(codes, bits, word_offset=0) -> codes``."""

    def apply(self, codes: torch.Tensor, bits: int, word_offset: int = 0) -> torch.Tensor: ...


@dataclass(frozen=True)
class QuantizedState:
    """Quantized tensors of a model by name, in memory-layout order."""

    tensors: "OrderedDict[str, QuantizedTensor]"
    bits: int

    @property
    def word_offsets(self) -> dict[str, int]:
        offsets, pos = {}, 0
        for name, qt in self.tensors.items():
            offsets[name] = pos
            pos += qt.codes.numel()
        return offsets

    @property
    def num_words(self) -> int:
        return sum(qt.codes.numel() for qt in self.tensors.values())

    def dequantize(self) -> dict[str, torch.Tensor]:
        return {name: qt.dequantize() for name, qt in self.tensors.items()}

    def flat_codes(self) -> torch.Tensor:
        """All words of the model in layout order, one flat uint8 tensor."""
        if not self.tensors:
            return torch.zeros(0, dtype=torch.uint8)
        return torch.cat([qt.codes.reshape(-1) for qt in self.tensors.values()])

    def with_flat_codes(self, flat: torch.Tensor) -> "QuantizedState":
        """The same state with its words replaced by ``flat`` (layout order)."""
        if flat.numel() != self.num_words:
            raise ValueError(f"expected {self.num_words} words, got {flat.numel()}")
        out, pos = OrderedDict(), 0
        for name, qt in self.tensors.items():
            n = qt.codes.numel()
            out[name] = qt.with_codes(flat[pos : pos + n].view(qt.codes.shape))
            pos += n
        return QuantizedState(out, self.bits)

    def with_errors(self, errors: ErrorModel) -> "QuantizedState":
        """The state as read from a faulty memory: ``errors`` applied to all words in layout order.

        >>> import torch
        >>> from bitrobust.quantization import FixedPointQuantizer
        >>> from bitrobust.bit_errors import RandomBitErrors
        >>> state = quantize_tensors({"w": torch.linspace(-1, 1, 64)}, FixedPointQuantizer(8))
        >>> state.with_errors(RandomBitErrors(0.0, chip=0)).flat_codes().equal(state.flat_codes())
        True
        """
        return self.with_flat_codes(errors.apply(self.flat_codes(), self.bits))


def quantize_tensors(tensors: Mapping[str, torch.Tensor], quantizer: FixedPointQuantizer) -> QuantizedState:
    """Quantize named tensors; ``global`` schemes share one range over all of them."""
    shared = None
    if quantizer.scheme.range == "global":
        shared = merge_ranges([quantizer.range_of(t) for t in tensors.values()])
    out = OrderedDict((name, quantizer.quantize(t, shared)) for name, t in tensors.items())
    return QuantizedState(out, quantizer.bits)


def quantize_model(
    model: nn.Module,
    quantizer: FixedPointQuantizer,
    exclude: Iterable[str] = (),
    include_buffers: bool = False,
) -> QuantizedState:
    """Quantize every floating-point parameter of ``model`` (see module docstring)."""
    return quantize_tensors(quantizable_tensors(model, exclude, include_buffers), quantizer)


def fake_quantize_tensors(
    tensors: Mapping[str, torch.Tensor], quantizer: FixedPointQuantizer
) -> dict[str, torch.Tensor]:
    """Q^-1(Q(w)) for each tensor with straight-through gradients (quantization-aware training)."""
    shared = None
    if quantizer.scheme.range == "global":
        shared = merge_ranges([quantizer.range_of(t) for t in tensors.values()])
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
