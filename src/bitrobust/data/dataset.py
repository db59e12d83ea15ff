"""In-memory image datasets: the exact raw pixels as one uint8 tensor plus labels.

:func:`load_dataset` finds (or downloads and md5-checks) the canonical files of a
dataset and parses them into an :class:`ImageDataset` holding ``x`` (N x C x H x W,
uint8, untouched pixels) and ``y`` (int64). Scaling to [0, 1], normalization and
augmentation happen later, batch by batch, in :class:`~bitrobust.data.loader.Loader`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from bitrobust.data.formats import read_cifar_split, read_idx_split
from bitrobust.data.specs import DATASETS, DatasetSpec
from bitrobust.data.storage import ensure_file
from bitrobust.errors import BitrobustError


@dataclass(eq=False, repr=False)
class ImageDataset(torch.utils.data.Dataset):
    """Images ``x`` (uint8, N x C x H x W) and labels ``y`` (int64, N) of one split.

    It is a torch ``Dataset`` too: item i is ``(x[i] / 255 as float32, y[i])``, so a torch
    ``DataLoader`` can batch it (:class:`~bitrobust.data.loader.Loader` is faster: it keeps the
    whole split on the device and normalizes and augments batch by batch).

    >>> ds = ImageDataset(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 2]), 3, "toy", (0.5,), (0.5,))
    >>> x, y = ds[1]
    >>> x.shape, x.dtype, int(y)
    (torch.Size([1, 2, 2]), torch.float32, 1)
    """

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.x.dtype != torch.uint8 or self.x.dim() != 4:
            raise ValueError(f"x must be uint8 N x C x H x W, got {self.x.dtype} {tuple(self.x.shape)}")
        if self.y.dtype != torch.int64 or self.y.shape != (len(self.x),):
            raise ValueError(f"y must be int64 ({len(self.x)},), got {self.y.dtype} {tuple(self.y.shape)}")

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i].float() / 255, self.y[i]

    def __repr__(self) -> str:
        return (
            f"ImageDataset({self.name!r}, n={len(self)}, shape={tuple(self.x.shape[1:])}, "
            f"classes={self.num_classes}, device={self.x.device})"
        )

    @property
    def device(self) -> torch.device:
        return self.x.device

    def _with(self, x: torch.Tensor, y: torch.Tensor) -> ImageDataset:
        return ImageDataset(x, y, self.num_classes, self.name, self.mean, self.std)

    def to(self, device: torch.device | str) -> ImageDataset:
        """The same data on ``device`` (self if it is already there)."""
        device = torch.device(device)
        if self.x.device == device:
            return self
        return self._with(self.x.to(device), self.y.to(device))

    def first(self, n: int) -> ImageDataset:
        """The first ``n`` examples (as the reference code of paper 3 evaluates on the first 9,000)."""
        if not 0 <= n <= len(self):
            raise BitrobustError(f"the first {n} examples requested from {len(self)}")
        return self._with(self.x[:n], self.y[:n])

    def subset(self, n: int, seed: int = 0, stratified: bool = True) -> ImageDataset:
        """``n`` examples drawn without replacement, in their original order.

        Stratified: every class gets ``n // num_classes`` or one more example (as far
        as the class has them), the classes getting one more chosen at random.
        """
        if not 0 <= n <= len(self):
            raise BitrobustError(f"subset of {n} examples requested from {len(self)}")
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(self), generator=gen)
        if stratified:
            # Rank of each example within its class in the random order; take all
            # rank-0 examples first, then rank 1, ... (ties broken by the random order).
            y = self.y.cpu()[perm]
            order = torch.argsort(y, stable=True)
            counts = torch.bincount(y, minlength=self.num_classes)
            starts = torch.cumsum(counts, 0) - counts
            rank = torch.empty_like(order)
            rank[order] = torch.arange(len(y)) - starts[y[order]]
            perm = perm[torch.argsort(rank * len(y) + torch.arange(len(y)))]
        idx = torch.sort(perm[:n]).values.to(self.x.device)
        return self._with(self.x[idx], self.y[idx])


def load_dataset(
    name: str | DatasetSpec,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
    progress: bool = True,
) -> ImageDataset:
    """Load ``split`` ("train" or "test") of a registered dataset (or a given spec).

    Files come from :func:`~bitrobust.data.storage.resolve_data_dir` ``(data_dir)``;
    missing or corrupt ones are downloaded when ``download`` is true, otherwise an
    error says how to get them. ``verify=False`` skips the md5 check of files already
    present (for hand-made test files; downloads are always checked).
    """
    spec = name if isinstance(name, DatasetSpec) else DATASETS.get(name)
    paths = [ensure_file(spec, f, data_dir, download, verify, progress) for f in spec.files_for(split)]
    if spec.format == "idx":
        images_path, labels_path = paths
        x, y = read_idx_split(images_path, labels_path, spec.num_classes)
    elif spec.format in ("cifar10", "cifar100"):
        x, y = read_cifar_split(paths[0], spec.format, split, spec.num_classes)
    else:
        raise BitrobustError(f"dataset {spec.name!r} has unknown format {spec.format!r}")
    if tuple(x.shape[1:]) != spec.image_shape:
        raise BitrobustError(f"{spec.name}: images of shape {x.shape[1:]}, expected {spec.image_shape}")
    return ImageDataset(
        x=torch.from_numpy(x if x.flags.writeable else x.copy()),
        y=torch.from_numpy(y),
        num_classes=spec.num_classes,
        name=spec.name,
        mean=spec.mean,
        std=spec.std,
    )
