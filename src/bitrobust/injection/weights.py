"""Inject bit errors into a model's weights: the public verbs (paper 3, Sec. 3; contract 2).

The weights are quantized into words in the linear memory layout -- any number format: contract 1's
fixed point, or a :mod:`bitrobust.formats` format such as ``get_format("bf16")`` -- the error model flips
bits of the stored words (``errors.apply(codes, bits)``: a persistent chip, a transient
read, a profiled map), through a :class:`~bitrobust.bit_errors.protection.Protection` if given (protected or
targeted bits and tensors, exposed metadata, SECDED ECC: contract 6), and the faulty words are decoded back
into the model's parameters.
:func:`inject` does it for the duration of a ``with`` block and then restores every
parameter and buffer bit for bit (also when the block raises); :func:`faulty_copy`
returns a faulty copy and leaves the model alone (as PyTorchFI's corrupted models do).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Iterable, Iterator

from torch import nn

from bitrobust.bit_errors.protection import Protection, read_protected
from bitrobust.quantization import FixedPointQuantizer, load_tensors, quantize_model, restored
from bitrobust.quantization.model import ErrorModel, Quantizer


def load_faulty_weights(model: nn.Module, quantizer: Quantizer, errors: ErrorModel | None,
                        exclude: Iterable[str] = (), protection: Protection | None = None) -> None:
    """Replace ``model``'s parameters by their quantized, faulty (``errors``; None: clean) values, read
    through ``protection``."""
    state = quantize_model(model, quantizer, exclude=exclude)
    load_tensors(model, (state if errors is None else read_protected(state, errors, protection)[0]).dequantize())


@contextlib.contextmanager
def inject(model: nn.Module, quantizer: Quantizer, errors: ErrorModel | None,
           exclude: Iterable[str] = (), protection: Protection | None = None) -> Iterator[nn.Module]:
    """``model`` with quantized weights read through ``errors`` (and ``protection``) inside the block,
    restored after it.

    >>> import torch
    >>> from bitrobust.bit_errors import RandomBitErrors
    >>> model = torch.nn.Linear(16, 4)
    >>> before = model.weight.detach().clone()
    >>> with inject(model, FixedPointQuantizer(8), RandomBitErrors(0.1, chip=0)) as faulty:
    ...     changed = not torch.equal(faulty.weight, before)
    >>> changed, torch.equal(model.weight, before)
    (True, True)
    >>> with inject(model, FixedPointQuantizer(8), RandomBitErrors(0.1, chip=0),
    ...             protection=Protection(target_tensors="bias")) as faulty:
    ...     torch.equal(faulty.weight, faulty_copy(model, FixedPointQuantizer(8), None).weight)
    True
    """
    with restored(model):
        load_faulty_weights(model, quantizer, errors, exclude, protection)
        yield model


def faulty_copy(model: nn.Module, quantizer: Quantizer, errors: ErrorModel | None,
                exclude: Iterable[str] = (), protection: Protection | None = None) -> nn.Module:
    """A deep copy of ``model`` with quantized weights read through ``errors`` (and ``protection``);
    ``model`` is unchanged.

    >>> import torch
    >>> from bitrobust.bit_errors import RandomBitErrors
    >>> model = torch.nn.Linear(16, 4)
    >>> faulty = faulty_copy(model, FixedPointQuantizer(8), RandomBitErrors(0.1, chip=0))
    >>> torch.equal(faulty.weight, model.weight)
    False
    >>> from bitrobust.formats import get_format
    >>> faulty_copy(model, get_format("bf16"), None).weight.equal(model.weight.bfloat16().float())
    True
    """
    out = copy.deepcopy(model)
    load_faulty_weights(out, quantizer, errors, exclude, protection)
    return out
