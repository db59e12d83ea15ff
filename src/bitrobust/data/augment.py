"""Batched data augmentation on float images, driven by an explicit ``torch.Generator``.

The CIFAR recipe of paper 3 (App. F): random crop with up to 4 pixels of padding,
horizontal flip and Cutout (DeVries & Taylor, 2017) with a 16 x 16 window whose
centre is uniform over the image (so the window is clipped at the borders); the
created "black spaces" are filled with the mean image colour. Random parameters are
drawn per example on the generator's device (CPU by default), so a seed gives the
same augmentation on any compute device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

Fill = float | Sequence[float] | torch.Tensor


@dataclass(frozen=True)
class AugmentConfig:
    """``crop``: max shift in pixels (0 = off); ``flip``: random horizontal flips;
    ``cutout``: window size (0 = off); ``fill``: ``"mean"`` (dataset mean colour) or
    ``"zero"`` for padded and cut-out pixels."""

    crop: int = 4
    flip: bool = True
    cutout: int = 16
    fill: str = "mean"

    def __post_init__(self) -> None:
        if self.crop < 0 or self.cutout < 0:
            raise ValueError("crop and cutout must be >= 0")
        if self.fill not in ("mean", "zero"):
            raise ValueError(f"fill must be 'mean' or 'zero', got {self.fill!r}")


def _fill(fill: Fill, x: torch.Tensor) -> torch.Tensor:
    """``fill`` as a tensor broadcastable to ``x`` (scalar or one value per channel)."""
    t = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    return t.reshape(1, -1, 1, 1) if t.dim() else t


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator, fill: Fill = 0.0) -> torch.Tensor:
    """Pad each image of ``x`` (N x C x H x W) by ``padding`` pixels of ``fill``, then
    crop H x W at a random offset (a shift of up to ``padding`` pixels each way)."""
    if padding == 0:
        return x
    n, c, h, w = x.shape
    padded = _fill(fill, x).expand(n, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding : padding + h, padding : padding + w] = x
    shift = torch.randint(0, 2 * padding + 1, (2, n), generator=generator, device=generator.device)
    dy, dx = shift.to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image horizontally with probability ``p``."""
    flip = torch.rand(len(x), generator=generator, device=generator.device).to(x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator, fill: Fill = 0.0) -> torch.Tensor:
    """Set a ``size`` x ``size`` window of each image to ``fill``; its centre is uniform
    over the image and the window is clipped at the borders."""
    if size == 0:
        return x
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=generator, device=generator.device).to(x.device)
    cx = torch.randint(0, w, (n,), generator=generator, device=generator.device).to(x.device)
    y0, x0 = cy - size // 2, cx - size // 2
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_rows = (ys >= y0[:, None]) & (ys < y0[:, None] + size)  # N x H
    in_cols = (xs >= x0[:, None]) & (xs < x0[:, None] + size)  # N x W
    mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # N x 1 x H x W
    return torch.where(mask, _fill(fill, x), x)


def augment(
    x: torch.Tensor, config: AugmentConfig, generator: torch.Generator, mean: Fill = 0.0
) -> torch.Tensor:
    """Crop, flip, then cutout, as set by ``config``; ``mean`` is the fill for ``fill="mean"``."""
    fill = mean if config.fill == "mean" else 0.0
    x = random_crop(x, config.crop, generator, fill)
    if config.flip:
        x = random_flip(x, generator)
    return cutout(x, config.cutout, generator, fill)
