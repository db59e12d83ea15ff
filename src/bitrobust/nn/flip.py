"""Weight-sign flips for binarized networks: flip training and externally supplied weights.

Flip training (Hirtzlin et al.; paper 2, Sec. IV-B) draws a fresh random mask
M in {-1, +1} (M = -1 with probability p) at every forward pass and multiplies it into
the binarized weights. Two gradients are possible: ``native`` backpropagates through
the product (B(W) * M) o X, so the update M * grad is aware of the flips;
``straight_through`` (paper 2) computes X' = B(E_p(B(W)) o X) but treats E_p as the
identity in the backward pass, so grad_{B(W)} = grad_{E_p(B(W))}: the two gradients
differ exactly by the factor M.

Persistent errors (a chip of :mod:`bitrobust.bit_errors`) use the same code path:
:func:`binary_weight_codes` exports the binarized weights as bit codes
(1 for +1, 0 for -1) in ``named_parameters()`` order, the caller flips bits, and
:func:`set_binary_weights` (or the :func:`binary_weights_override` context manager)
makes the layers use the given weights in place of B(W).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from bitrobust.nn.binary import BinaryLayer

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
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise BitrobustError(f"flip rate p must be in [0, 1], got {p}")
    return p


@dataclass(frozen=True)
class FlipSettings:
    """Flip training at rate ``p`` with gradient ``mode`` (``straight_through`` or ``native``).

    ``training_only`` (default) applies the flips in training mode only, like dropout;
    set it to False to evaluate with transient errors (fresh flips at every read).
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
    """Apply a fresh flip mask to binarized weights ``wb`` with the settings' gradient mode."""
    mask = flip_mask(wb.shape, settings.p, generator, wb.device, wb.dtype)
    return FLIP_MODES.get(settings.mode)(wb, mask)


# ----------------------------------------------------------------------------- model level


def binary_layers(model: nn.Module) -> list[tuple[str, "BinaryLayer"]]:
    """(name, layer) of every binary layer, in ``named_modules()`` = weight memory order."""
    from bitrobust.nn.binary import BinaryLayer

    return [(name, m) for name, m in model.named_modules() if isinstance(m, BinaryLayer)]


def _require_binary_layers(model: nn.Module) -> list[tuple[str, "BinaryLayer"]]:
    layers = binary_layers(model)
    if not layers:
        raise BitrobustError(f"{type(model).__name__} has no binary layers")
    return layers


def set_flip(
    model: nn.Module,
    p: float | FlipSettings | None,
    mode: str = "straight_through",
    generator: torch.Generator | None = None,
    training_only: bool = True,
) -> None:
    """Enable flip training at rate ``p`` on every binary layer (``p=None`` or 0 clears it).

    All layers share ``generator`` (a fresh mask per layer per forward pass); without
    one the global torch RNG is used (never reseeded).
    """
    settings = p if isinstance(p, FlipSettings) else (
        None if p is None else FlipSettings(float(p), mode, training_only)
    )
    if settings is not None and settings.p == 0.0:
        settings = None
    for _, layer in _require_binary_layers(model):
        layer.flip = settings
        layer.flip_generator = generator if settings is not None else None


def clear_flip(model: nn.Module) -> None:
    """Disable flips on every binary layer."""
    set_flip(model, None)


def binary_weight_names(model: nn.Module) -> list[str]:
    """Parameter names (``named_parameters()``) of the binarized weights, in memory order."""
    return [f"{name}.weight" if name else "weight" for name, _ in _require_binary_layers(model)]


@torch.no_grad()
def binary_weight_codes(model: nn.Module) -> list[torch.Tensor]:
    """Per binary layer, its binarized weights as flat uint8 codes: 1 for +1, 0 for -1.

    Codes are row-major over the weight tensor (``weight.reshape(-1)``) and the list is
    in ``named_parameters()`` order, so concatenating them gives the memory image of
    the binary weights (1 bit per word). A weight override set with
    :func:`set_binary_weights` is what is exported, flips are not.
    """
    return [signs_to_codes(layer.effective_binary_weight(flips=False)) for _, layer in _require_binary_layers(model)]


def signs_to_codes(signs: torch.Tensor) -> torch.Tensor:
    """Flat uint8 codes of +-1 values: +1 -> 1, -1 -> 0."""
    return (signs.reshape(-1) > 0).to(torch.uint8)


def codes_to_signs(codes: torch.Tensor, shape: Sequence[int] | torch.Size, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Inverse of :func:`signs_to_codes`: codes (any integer dtype, 0/1) to +-1 of ``shape``."""
    if codes.numel() != int(torch.Size(shape).numel()):
        raise BitrobustError(f"got {codes.numel()} codes for a weight of shape {tuple(shape)}")
    if codes.is_floating_point() or codes.is_complex():
        raise BitrobustError("binary weight codes must be an integer or bool tensor of 0/1")
    flat = codes.reshape(-1).to(torch.int64)
    if bool(((flat != 0) & (flat != 1)).any()):
        raise BitrobustError("binary weight codes must be 0 or 1 (1 bit per weight)")
    return (flat * 2 - 1).to(dtype).reshape(tuple(shape))


def _as_signs(value: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if value.is_floating_point():
        if value.numel() != weight.numel():
            raise BitrobustError(f"got {value.numel()} weights for a weight of shape {tuple(weight.shape)}")
        signs = value.reshape(weight.shape).to(weight.dtype)
        if bool(((signs != 1) & (signs != -1)).any()):
            raise BitrobustError("floating-point binary weights must be +1 or -1 (use integer codes for 0/1)")
        return signs.detach().to(weight.device)
    return codes_to_signs(value, weight.shape, weight.dtype).to(weight.device)


def set_binary_weights(model: nn.Module, weights: Sequence[torch.Tensor | None]) -> None:
    """Make each binary layer use the given binarized weights in place of B(W).

    ``weights`` has one entry per binary layer (order of :func:`binary_weight_codes`):
    integer/bool codes 0/1 (flat or shaped) or floating +-1 tensors; ``None`` keeps a
    layer's own B(W). The override stays until :func:`clear_binary_weights`; transient
    flips, if enabled, act on top of it, and gradients pass straight through to the
    latent weights.
    """
    layers = _require_binary_layers(model)
    if len(weights) != len(layers):
        raise BitrobustError(f"got {len(weights)} weight tensors for {len(layers)} binary layers")
    converted = [None if w is None else _as_signs(w, layer.weight) for (_, layer), w in zip(layers, weights)]
    for (_, layer), w in zip(layers, converted):
        layer.weight_override = w


def clear_binary_weights(model: nn.Module) -> None:
    """Remove the overrides of :func:`set_binary_weights`: layers use B(W) again."""
    for _, layer in binary_layers(model):
        layer.weight_override = None


@contextlib.contextmanager
def binary_weights_override(model: nn.Module, weights: Sequence[torch.Tensor | None]) -> Iterator[nn.Module]:
    """Context manager: :func:`set_binary_weights` on entry, previous overrides restored on exit."""
    layers = _require_binary_layers(model)
    previous = [layer.weight_override for _, layer in layers]
    set_binary_weights(model, weights)
    try:
        yield model
    finally:
        for (_, layer), w in zip(layers, previous):
            layer.weight_override = w
