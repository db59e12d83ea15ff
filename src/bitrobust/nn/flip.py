"""Weight-sign flips of binarized weights, per tensor: the flip mask and the two flip operators.

Flip training (Hirtzlin et al.; paper 2, Sec. IV-B) draws a fresh random mask
M in {-1, +1} (M = -1 with probability p) at every forward pass and multiplies it into
the binarized weights. Two gradients are possible: ``native`` backpropagates through
the product (B(W) * M) o X, so the update M * grad is aware of the flips;
``straight_through`` (paper 2) computes X' = B(E_p(B(W)) o X) but treats E_p as the
identity in the backward pass, so grad_{B(W)} = grad_{E_p(B(W))}: the two gradients
differ exactly by the factor M.

This module acts on one tensor of +-1 weights; :func:`bitrobust.nn.binary.set_flip`
enables the flips on every binary layer of a model. Bit errors in the weight memory of
a trained BNN (chips, transient reads) are injected like in every other model, through
the 1-bit memory format of its binary weights
(:func:`bitrobust.training.bnn.binary_memory_quant`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from bitrobust.errors import BitrobustError
from bitrobust.registry import Registry

FlipOperator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
FLIP_MODES: Registry[FlipOperator] = Registry("flip mode")


class _StraightThroughFlip(torch.autograd.Function):
    """Forward: w * M.  Backward: identity (paper 2, Eq. 1 applied to E_p)."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return w * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad, None


@FLIP_MODES.register("straight_through")
def straight_through_flip(w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """E_p(B(W)) = B(W) * M with grad_{B(W)} l = grad_{E_p(B(W))} l (flip-unaware)."""
    return _StraightThroughFlip.apply(w, mask)


@FLIP_MODES.register("native")
def native_flip(w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B(W) * M) with ordinary backprop: grad_{B(W)} l = M * grad_{B(W) * M} l (Hirtzlin)."""
    return w * mask


def check_flip_rate(p: float) -> float:
    """``p`` as a float; BitrobustError unless 0 <= p <= 1."""
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise BitrobustError(f"flip rate p must be in [0, 1], got {p}")
    return p


@dataclass(frozen=True)
class FlipSettings:
    """Flip training at rate ``p`` with gradient ``mode`` (``straight_through`` or ``native``).

    ``training_only`` (default) applies the flips in training mode only, like dropout;
    set it to False to evaluate with transient errors (fresh flips at every read).

    >>> FlipSettings(0.05).active(training=True), FlipSettings(0.05).active(training=False)
    (True, False)
    """

    p: float
    mode: str = "straight_through"
    training_only: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", check_flip_rate(self.p))
        FLIP_MODES.get(self.mode)  # validates the name, lists the choices on error

    def active(self, training: bool) -> bool:
        return self.p > 0.0 and (training or not self.training_only)


def flip_mask(
    shape: Sequence[int] | torch.Size,
    p: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """M in {-1, +1}^shape with P(M = -1) = p, i.i.d. (drawn from ``generator`` if given).

    Sparse Poisson thinning instead of one uniform per weight: draw K ~ Poisson(-n ln(1 - q))
    positions uniformly with replacement; then every position is hit a Poisson(-ln(1 - q))
    number of times, independently, so it is hit at least once with probability exactly q.
    The hit positions get the minority sign (q = p for p <= 1/2, else q = 1 - p). This costs
    about n q random draws instead of n.

    >>> m = flip_mask((1000,), 0.1, torch.Generator().manual_seed(0))
    >>> sorted(m.unique().tolist()), 0.05 < float((m < 0).float().mean()) < 0.15
    ([-1.0, 1.0], True)
    """
    p = check_flip_rate(p)
    shape = tuple(shape)
    n = math.prod(shape)
    q, majority = (p, 1.0) if p <= 0.5 else (1.0 - p, -1.0)
    mask = torch.full((n,), majority, dtype=dtype, device=device)
    if q > 0 and n > 0:
        where = generator.device if generator is not None else mask.device  # draw where the generator lives
        rate = torch.tensor(-n * math.log1p(-q), dtype=torch.float64, device=where)
        hits = int(torch.poisson(rate, generator=generator))
        idx = torch.randint(0, n, (hits,), generator=generator, device=where)
        mask.index_fill_(0, idx.to(mask.device), -majority)
    return mask.view(shape)


def flip_weights(
    wb: torch.Tensor, settings: FlipSettings, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply a fresh flip mask to binarized weights ``wb`` with the settings' gradient mode.

    >>> flip_weights(torch.ones(4), FlipSettings(1.0)).tolist()
    [-1.0, -1.0, -1.0, -1.0]
    """
    mask = flip_mask(wb.shape, settings.p, generator, wb.device, wb.dtype)
    return FLIP_MODES.get(settings.mode)(wb, mask)
