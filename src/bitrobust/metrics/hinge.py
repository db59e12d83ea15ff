"""Direct T-regularizer for BNN training: a hinge on the margin to the BN threshold (paper 2, Eq. 7).

T^b counts neurons whose pre-activation is at least b away from the threshold; the
hinge R^b_{n,u,v}(x_i) = max(0, b - T_{i,n,u,v}) is a convex, sub-differentiable proxy
that is zero once the margin reaches b (paper 2, Sec. IV-A). The trainer adds
``lambda * mean R`` to the loss, using the float pre-activations from
:meth:`bitrobust.models.bnn.BNN.trace`::

    trace = model.trace(x)
    loss = cross_entropy(trace.logits, y) + HingeRegularizer(b=32, lam=1e-3).penalty(model, trace.preacts)

On float pre-activations the threshold is the real number where BN crosses zero,
tau_n = mu_n - beta_n sqrt(var_n + eps) / gamma_n (batch statistics in training mode,
running statistics in eval mode), and T = |h - tau_n|, divided by Z in the first layer.
In eval mode this differs from the integer T = |h - s_n - 1/2| by at most 1/2 (1/(2Z) in
layer 1). The mean weights neurons like T^b does: positions are averaged within a
neuron, then neurons of all hidden layers, then inputs (for FC nets simply the mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bitrobust.errors import BitrobustError
from bitrobust.models.bnn import BNN

_TINY_GAMMA = 1e-12


def soft_tolerance(model: BNN, preacts: list[torch.Tensor]) -> list[torch.Tensor]:
    """Differentiable T_{i,n,u,v} = |h - tau_n| (/Z in layer 1) for each hidden block."""
    blocks = model.hidden_blocks
    if len(preacts) != len(blocks):
        raise BitrobustError(f"got {len(preacts)} pre-activations for {len(blocks)} hidden blocks")
    out = []
    for i, (block, h) in enumerate(zip(blocks, preacts)):
        bn = block.bn
        shape = (1, -1) + (1,) * (h.dim() - 2)
        if bn.training:
            dims = [0] + list(range(2, h.dim()))
            mean, var = h.mean(dims), h.var(dims, unbiased=False)  # what BN normalizes with
        else:
            mean, var = bn.running_mean, bn.running_var
        sigma = torch.sqrt(var + bn.eps)
        gamma = bn.weight if bn.weight is not None else torch.ones_like(mean)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(mean)
        gamma = torch.where(gamma.abs() < _TINY_GAMMA, torch.full_like(gamma, _TINY_GAMMA).copysign(gamma), gamma)
        tau = mean - beta * sigma / gamma  # BN(h) > 0  <=>  h > tau (gamma > 0) or h < tau (gamma < 0)
        t = (h - tau.view(shape)).abs()
        out.append(t / model.input_max if i == 0 else t)
    return out


def hinge_penalty(model: BNN, preacts: list[torch.Tensor], b: float, lam: float = 1.0) -> torch.Tensor:
    """lambda * mean max(0, b - T) over inputs, hidden neurons and positions (paper 2, Eq. 7)."""
    if not b >= 0:
        raise BitrobustError(f"hinge level b must be >= 0, got {b}")
    per_neuron = []
    for t in soft_tolerance(model, preacts):
        r = torch.relu(b - t)  # R^b_{n,u,v}(x_i) = max(0, b - T_{i,n,u,v})
        per_neuron.append(r.reshape(r.shape[0], r.shape[1], -1).mean(dim=2))
    return lam * torch.cat(per_neuron, dim=1).mean()


@dataclass(frozen=True)
class HingeRegularizer:
    """The hinge regularizer with level ``b`` and weight ``lam`` (paper 2 uses b in {32, 64, 128})."""

    b: float = 32.0
    lam: float = 1e-3

    def __post_init__(self) -> None:
        if not self.b >= 0:
            raise BitrobustError(f"hinge level b must be >= 0, got {self.b}")
        if not self.lam >= 0:
            raise BitrobustError(f"hinge weight lam must be >= 0, got {self.lam}")

    def penalty(self, model: BNN, preacts: list[torch.Tensor]) -> torch.Tensor:
        return hinge_penalty(model, preacts, self.b, self.lam)
