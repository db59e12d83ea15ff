"""The integer form of a BNN: its own blocks with +-1 weights and folded integer thresholds.

With +-1 weights and +-1 inputs a block's pre-activation is an integer, and batch norm
followed by sign only compares it with an integer threshold per neuron (paper 1,
Sec. II; Sari et al.; the folding is :func:`bitrobust.nn.integer.fold_batchnorm`).
:class:`IntegerBNN` runs a :class:`~bitrobust.models.bnn.BNN` through the steps of its
blocks (:meth:`~bitrobust.models.bnn.BNNBlock.linear_part`, ``pool``) and replaces
BN + sign of the hidden blocks by the thresholds; the output block's integer
pre-activations go through the model's own output batch norm (the same float operation
as the float model), so integer and float predictions are identical. The semantics
are eval mode (running statistics) whatever mode the model is in; the weights are the
model's B(W) when the integer form is built (flips are not applied).

Arithmetic is int64 by default and the first layer's inputs must be integers
|x| <= Z (:func:`~bitrobust.nn.integer.check_integer_input`). With an integer-valued
float ``dtype`` (float32 is exact while |h| < 2^24, which the folding checks) the same
pass runs on float kernels: the fast neuron importance (:mod:`bitrobust.metrics.importance`)
uses that; T^b (:mod:`bitrobust.metrics.tolerance`) uses int64.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator

import torch

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import BNN
from bitrobust.nn.binary import binarize
from bitrobust.nn.integer import check_integer_input

Step = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class IntegerTrace:
    """Per block: its input, its pre-activation h (after pooling), its +-1 output; the logits."""

    inputs: list[torch.Tensor]
    preacts: list[torch.Tensor]
    outputs: list[torch.Tensor]
    logits: torch.Tensor


class IntegerBNN:
    """Integer-only inference of a :class:`~bitrobust.models.bnn.BNN` (eval-mode semantics).

    >>> from bitrobust.models.bnn import build_bnn
    >>> model = build_bnn("C4-MP2-FC8-10", seed=0).eval()
    >>> x = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    >>> net = IntegerBNN(model)
    >>> torch.equal(net.logits(x), model(x)), net.run(x).preacts[0].dtype
    (True, torch.int64)
    """

    def __init__(self, model: BNN, dtype: torch.dtype = torch.int64) -> None:
        if not isinstance(model, BNN):
            raise BitrobustError(f"integer inference needs a BNN, got {type(model).__name__}")
        self.model = model
        self.dtype = dtype
        self.input_max = model.input_max
        self.blocks = list(model.blocks)
        with torch.no_grad():
            self.weights = [binarize(b.layer.weight).to(dtype) for b in self.blocks]
        device = self.weights[0].device
        self.bounds = [b.preactivation_bound(self.input_max) for b in self.blocks]
        self.thresholds = [b.threshold(self.input_max).to(device, dtype) for b in self.blocks[:-1]]

    def fan_in(self, index: int) -> int:
        """Number of inputs of one neuron of block ``index`` (C k k for a conv)."""
        return self.blocks[index].fan_in

    @property
    def num_hidden(self) -> int:
        return len(self.blocks) - 1

    # -- the steps of one block ------------------------------------------------------------
    def linear_part(self, index: int, a: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Block ``index``'s z before pooling for input ``a``, with its weights or ``weight``."""
        w = self.weights[index] if weight is None else weight
        return self.blocks[index].linear_part(a, w.to(a.device))

    def preactivation(self, index: int, a: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Integer pre-activation h of block ``index`` for input ``a`` (after pooling)."""
        return self.blocks[index].pool(self.linear_part(index, a, weight))

    def activate(self, index: int, h: torch.Tensor) -> torch.Tensor:
        """+-1 outputs of hidden block ``index`` from its pre-activations (folded BN + sign)."""
        return self.thresholds[index].apply(h)

    def output_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The output block's float logits: its batch norm applied to the integer h."""
        bn = self.blocks[-1].bn
        with torch.no_grad():
            return bn.eval_affine(h.to(bn.running_mean.dtype))

    # -- passes ----------------------------------------------------------------------------
    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in this form's dtype; BitrobustError unless integers |x| <= Z of the model's input shape."""
        xi = check_integer_input(x, self.input_max)
        self.model.check_input_shape(xi)
        return xi.to(self.dtype)

    def steps(self, a: torch.Tensor, start: int = 0) -> Iterator[Step]:
        """(input a, pre-pool z, pre-activation h) of each block from ``start`` on, for its input ``a``."""
        for j in range(start, len(self.blocks)):
            z = self.linear_part(j, a)
            h = self.blocks[j].pool(z)
            yield a, z, h
            if j < self.num_hidden:
                a = self.activate(j, h)

    def logits_from(self, index: int, z: torch.Tensor) -> torch.Tensor:
        """Logits from block ``index``'s pre-pool ``z``: the rest of the network."""
        h = self.blocks[index].pool(z)
        if index < self.num_hidden:
            for _, _, h in self.steps(self.activate(index, h), index + 1):
                pass
        return self.output_logits(h)

    def run(self, x: torch.Tensor) -> IntegerTrace:
        """Integer forward pass recording every block's input, pre-activation and output."""
        inputs, preacts = [], []
        for a, _, h in self.steps(self.prepare(x)):
            inputs.append(a)
            preacts.append(h)
        return IntegerTrace(inputs, preacts, inputs[1:], self.output_logits(preacts[-1]))

    def hidden_preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Integer pre-activations of the hidden blocks only (the output block is not computed)."""
        return [h for _, _, h in itertools.islice(self.steps(self.prepare(x)), self.num_hidden)]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from(0, self.linear_part(0, self.prepare(x)))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1)


def integer_predict(model: BNN, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class predictions of ``model`` computed with integer inference, in batches.

    >>> from bitrobust.models.bnn import build_bnn
    >>> model = build_bnn("FC8-10", seed=0).eval()
    >>> x = torch.zeros(3, 784, dtype=torch.uint8)
    >>> torch.equal(integer_predict(model, x, batch_size=2), model(x).argmax(1))
    True
    """
    net = IntegerBNN(model)
    return torch.cat([net.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
