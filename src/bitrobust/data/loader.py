"""A batch iterator that keeps the whole dataset on the compute device.

Small image datasets fit in GPU memory as uint8, so there are no worker processes:
each batch is an index gather, a conversion ``x / 255`` to float32, optional
augmentation and normalization, all on the device. ``raw=True`` skips the scaling and
yields the integer pixel values 0..255 as float32 (binarized networks take them as
first-layer inputs in {0..Z}, paper 1, Sec. III); it cannot be combined with
normalization, and augmentation then fills with the mean colour rounded to a level. Shuffling and augmentation use
their own ``torch.Generator`` seeded from ``(seed, epoch)`` (call :meth:`set_epoch`
like with ``DistributedSampler``); with ``world_size > 1`` each rank iterates over a
disjoint, equally long shard of the shuffled indices, padded by wrapping around.
:class:`BlockLoader` batches a text's token blocks the same way (same shuffling and sharding).
"""

from __future__ import annotations

import hashlib
import math
from typing import Callable, Iterator

import torch

from bitrobust.data.augment import AugmentConfig, augment as apply_augment
from bitrobust.data.dataset import ImageDataset
from bitrobust.data.text import TokenBlocks

AugmentFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _generator(*key: int) -> torch.Generator:
    """A CPU generator whose seed is a hash of ``key`` (distinct keys, unrelated streams)."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


class _Batches:
    """Which examples each batch of an epoch holds: shuffling per (seed, epoch), sharding over ranks."""

    def __init__(self, dataset, batch_size: int, shuffle: bool, seed: int, drop_last: bool,
                 device: torch.device | str | None, rank: int, world_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.dataset = dataset.to(device) if device is not None else dataset
        self.device = self.dataset.device
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the shuffle and augmentation randomness of the next pass."""
        self.epoch = epoch

    @property
    def num_samples(self) -> int:
        """Examples this rank sees per epoch (``ceil(N / world_size)``)."""
        return math.ceil(len(self.dataset) / self.world_size)

    def indices(self) -> torch.Tensor:
        """This rank's example indices for the current epoch, in iteration order."""
        n = len(self.dataset)
        if self.shuffle:
            order = torch.randperm(n, generator=_generator(self.seed, self.epoch))
        else:
            order = torch.arange(n)
        total = self.num_samples * self.world_size
        if total > n:  # pad by wrapping around so every rank gets the same count
            order = torch.cat([order, order.repeat(math.ceil(total / n))[: total - n]])
        return order[self.rank : total : self.world_size]

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)


class Loader(_Batches):
    """Iterate over ``(x, y)`` batches: x float32 in [0, 1] (or normalized, or raw 0..255), y int64, on ``device``."""

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int = 128,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        normalize: bool = False,
        augment: AugmentConfig | AugmentFn | None = None,
        rank: int = 0,
        world_size: int = 1,
        raw: bool = False,
    ) -> None:
        if raw and normalize:
            raise ValueError("raw yields unnormalized pixel values 0..255; it cannot be combined with normalize")
        super().__init__(dataset, batch_size, shuffle, seed, drop_last, device, rank, world_size)
        self.normalize = normalize
        self.raw = raw
        self.augment = augment
        self._mean = torch.tensor(dataset.mean, device=self.device).reshape(1, -1, 1, 1)
        self._std = torch.tensor(dataset.std, device=self.device).reshape(1, -1, 1, 1)
        # fill colour of augmentation in the units of x (a pixel level when raw)
        self._fill = (self._mean * 255).round() if raw else self._mean

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = self.indices().to(self.device)
        gen = _generator(self.seed, self.epoch, 1 + self.rank)  # augmentation stream per rank
        for b in range(len(self)):
            i = idx[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.dataset.x[i].float()
            if not self.raw:
                x = x.div_(255)
            if isinstance(self.augment, AugmentConfig):
                x = apply_augment(x, self.augment, gen, mean=self._fill)
            elif self.augment is not None:
                x = self.augment(x, gen)
            if self.normalize:
                x = (x - self._mean) / self._std
            yield x, self.dataset.y[i]


class BlockLoader(_Batches):
    """Iterate over ``(x, y)`` batches of token blocks (int64, ``[B, L]`` each, y the next tokens), on ``device``.

    >>> blocks = TokenBlocks.from_tokens(torch.arange(10, dtype=torch.uint8), block_size=3)
    >>> x, y = next(iter(BlockLoader(blocks, batch_size=2)))
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    """

    def __init__(self, dataset: TokenBlocks, batch_size: int = 64, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False, device: torch.device | str | None = None, rank: int = 0,
                 world_size: int = 1) -> None:
        super().__init__(dataset, batch_size, shuffle, seed, drop_last, device, rank, world_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = self.indices().to(self.device)
        for b in range(len(self)):
            yield self.dataset.batch(idx[b * self.batch_size : (b + 1) * self.batch_size])
