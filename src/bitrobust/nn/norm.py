"""Normalization layers chosen by name, including reparameterized group/batch norm.

Weight clipping keeps every parameter in [-w_max, w_max]. A plain GN/BN scale alpha
(1 by default) would be clipped as well, and with w_max < 1 the layer could no longer
represent the identity. The reparameterized layers learn alpha' and use the scale
alpha = 1 + alpha', so clipping alpha' leaves the scale near 1 (paper 3, App. E; BN
vs. GN robustness in App. G.1). Names: ``gn``, ``bn``, ``rgn``, ``rbn``, ``none``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.registry import Registry

NormFactory = Callable[..., nn.Module]
NORMS: Registry[NormFactory] = Registry("normalization")

_GROUP_CHOICES = (32, 24, 16, 8)


def default_groups(channels: int) -> int:
    """Number of GN groups for ``channels``, following the paper's reference code.

    The paper does not state the group count. Its reference implementation takes the
    first of 32, 24, 16, 8 - each capped at ``channels // 2`` - that divides
    ``channels``: 64+ channels (multiples of 32) get 32 groups (Wu & He's default),
    120 get 24, 16 get 8, 12 get 6. Channel counts none of these divide (odd widths
    from a width multiplier) fall back to the largest divisor <= ``channels // 2``.
    """
    if channels < 1:
        raise BitrobustError(f"channels must be >= 1, got {channels}")
    half = max(1, channels // 2)
    for choice in _GROUP_CHOICES:
        groups = min(choice, half)
        if channels % groups == 0:
            return groups
    return max(d for d in range(1, min(32, half) + 1) if channels % d == 0)


class ReparameterizedGroupNorm(nn.Module):
    """Group norm with scale ``1 + weight_delta`` (paper 3, App. E).

    Parameters: ``weight_delta`` (alpha', shape ``[C]``, initialised to 0) and ``bias``
    (beta, initialised to 0). At initialisation it equals ``nn.GroupNorm``.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        if num_groups < 1 or num_channels % num_groups != 0:
            raise BitrobustError(
                f"num_groups={num_groups} must be >= 1 and divide num_channels={num_channels}"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.weight_delta = nn.Parameter(torch.zeros(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    @property
    def scale(self) -> torch.Tensor:
        """Effective scale alpha = 1 + alpha'."""
        return 1 + self.weight_delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.num_groups, self.scale, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"


class ReparameterizedBatchNorm(nn.Module):
    """Batch norm with scale ``1 + weight_delta`` (paper 3, App. E).

    Same running statistics (buffers ``running_mean``, ``running_var``,
    ``num_batches_tracked``) and train/eval behaviour as ``nn.BatchNorm1d/2d``;
    ``dim=2`` expects ``(N, C, H, W)`` input, ``dim=1`` expects ``(N, C)`` or
    ``(N, C, L)``. At initialisation it equals the plain batch norm.
    """

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dim: int = 2
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.dim = dim
        self.weight_delta = nn.Parameter(torch.zeros(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    @property
    def scale(self) -> torch.Tensor:
        """Effective scale alpha = 1 + alpha'."""
        return 1 + self.weight_delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        allowed = (4,) if self.dim == 2 else (2, 3)
        if x.dim() not in allowed:
            raise ValueError(f"expected {' or '.join(f'{d}D' for d in allowed)} input, got {x.dim()}D")
        if self.training:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.scale, self.bias,
            self.training, self.momentum, self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, dim={self.dim}"


NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, ReparameterizedGroupNorm, ReparameterizedBatchNorm,
)
"""Every layer type :func:`make_norm` can return except ``nn.Identity``."""


@NORMS.register("none")
def _none(channels: int, groups: int | None, dim: int) -> nn.Module:
    return nn.Identity()


@NORMS.register("bn")
def _bn(channels: int, groups: int | None, dim: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if dim == 2 else nn.BatchNorm1d(channels)


@NORMS.register("rbn")
def _rbn(channels: int, groups: int | None, dim: int) -> nn.Module:
    return ReparameterizedBatchNorm(channels, dim=dim)


@NORMS.register("gn")
def _gn(channels: int, groups: int | None, dim: int) -> nn.Module:
    return nn.GroupNorm(_check_groups(channels, groups), channels)


@NORMS.register("rgn")
def _rgn(channels: int, groups: int | None, dim: int) -> nn.Module:
    return ReparameterizedGroupNorm(_check_groups(channels, groups), channels)


def _check_groups(channels: int, groups: int | None) -> int:
    if groups is None:
        return default_groups(channels)
    if groups < 1 or channels % groups != 0:
        raise BitrobustError(f"groups={groups} must be >= 1 and divide channels={channels}")
    return groups


def make_norm(name: str, channels: int, *, groups: int | None = None, dim: int = 2) -> nn.Module:
    """Normalization layer ``name`` (gn, bn, rgn, rbn, none) for ``channels`` channels.

    ``groups`` sets the GN group count (default: :func:`default_groups`); ``dim=2`` is
    for conv feature maps, ``dim=1`` for linear layers (GN then normalizes groups of
    features of each sample).
    """
    factory = NORMS.get(name)
    if channels < 1:
        raise BitrobustError(f"channels must be >= 1, got {channels}")
    if dim not in (1, 2):
        raise BitrobustError(f"dim must be 1 or 2, got {dim}")
    return factory(channels, groups, dim)
