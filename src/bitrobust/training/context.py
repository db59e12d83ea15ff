"""What a training step needs, handed to a strategy in place of the trainer (paper 3, Sec. 4-5).

A strategy (:mod:`bitrobust.training.strategies`) turns a batch into gradients from the
model, the loss and the quantization settings; alternating RandBET (paper 3, App. G.4)
also takes an update of its own in the middle of a step. :class:`StepContext` holds
exactly these -- model, loss function, optimizer, quantization, seed, length of the run
and the data-parallel world size -- so a strategy never calls into the trainer, and a
plain PyTorch loop can build one as well as the trainer does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.formats import get_format
from bitrobust.quantization import FixedPointQuantizer, quantizable_tensors
from bitrobust.quantization.model import Quantizer
from bitrobust.training.config import QuantSection


def quant_format(q: QuantSection) -> Quantizer:
    """The number format of a quant section: ``format`` if set, else contract 1's bits/scheme/overrides.

    >>> quant_format(QuantSection(format="int4_g128")).group, quant_format(QuantSection(bits=4)).bits
    (128, 4)
    """
    return get_format(q.format) if q.format is not None else FixedPointQuantizer(q.bits, q.scheme, **q.overrides)


@dataclass(frozen=True, eq=False)
class StepContext:
    """The model and everything around it that a strategy's steps use.

    ``quant`` is the run's quantization (None: train in float; a number format of contract 5 with
    ``QuantSection(format=...)``); the quantizer and the
    names of the quantized tensors follow from it. ``total_steps`` is the number of
    training steps of the whole run (schedules over steps), ``seed`` the run's seed
    (bit errors and flips are seeded from it and the global step). With
    ``world_size > 1`` (data parallelism, ``torch.distributed`` initialized) gradients
    and any other tensors a strategy asks for are averaged over the ranks.

    >>> model = nn.Linear(4, 2)
    >>> ctx = StepContext(model, torch.optim.SGD(model.parameters(), lr=0.1), quant=QuantSection(bits=8))
    >>> ctx.quantized_names, ctx.quantizer.bits, ctx.fake_quantize
    (('weight', 'bias'), 8, True)
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy
    quant: QuantSection | None = None
    seed: int = 0
    total_steps: int = 1
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    quantizer: Quantizer | None = field(init=False)
    quantized_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        q = self.quant
        object.__setattr__(self, "quantizer", None if q is None else quant_format(q))
        object.__setattr__(self, "quantized_names", tuple(quantizable_tensors(self.model, q.exclude if q else ())))

    @property
    def fake_quantize(self) -> bool:
        """Do forward passes use Q^-1(Q(w)) (quantization-aware training)?"""
        return self.quant is not None and self.quant.during_training

    def all_mean(self, tensors: Sequence[torch.Tensor]) -> None:
        """Replace each tensor by its mean over the ranks, in place (nothing to do in one process)."""
        if self.world_size > 1:
            for t in tensors:
                torch.distributed.all_reduce(t)
                t /= self.world_size

    def average_gradients(self) -> None:
        """Average the parameters' gradients over the ranks (a missing gradient counts as zero)."""
        if self.world_size == 1:
            return
        for p in self.model.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        self.all_mean([p.grad for p in self.model.parameters()])

    def update(self) -> None:
        """One optimizer step on the gradients averaged over the ranks; zeroing them is the caller's."""
        self.average_gradients()
        self.optimizer.step()
