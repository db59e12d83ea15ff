"""``Loader(raw=True)``: the integer pixel values 0..255 as float32 (binarized networks)."""

import pytest
import torch

from bitrobust.data import AugmentConfig, ImageDataset, Loader


def make(n: int = 20) -> ImageDataset:
    x = (torch.arange(n * 3 * 16) * 37 % 256).to(torch.uint8).reshape(n, 3, 4, 4)
    return ImageDataset(x, torch.arange(n) % 10, 10, "toy", (0.3, 0.5, 0.7), (0.25,) * 3)


def test_raw_yields_the_pixel_values():
    ds = make()
    x, y = next(iter(Loader(ds, batch_size=20, raw=True)))
    assert x.dtype == torch.float32 and torch.equal(x, ds.x.float()) and torch.equal(y, ds.y)
    scaled, _ = next(iter(Loader(ds, batch_size=20)))
    assert torch.equal(scaled, ds.x.float() / 255)  # the default is unchanged


def test_raw_augmentation_keeps_integer_levels():
    ds = make()
    x, _ = next(iter(Loader(ds, batch_size=20, raw=True, augment=AugmentConfig(crop=2, cutout=2), seed=1)))
    assert torch.equal(x, x.round()) and float(x.min()) >= 0 and float(x.max()) <= 255
    fills = {round(0.3 * 255), round(0.5 * 255), round(0.7 * 255)}
    assert any(int(v) in fills for v in x[:, 0].unique())  # padded / cut-out pixels: the mean colour as a level


def test_raw_and_normalize_conflict():
    with pytest.raises(ValueError, match="cannot be combined with normalize"):
        Loader(make(), raw=True, normalize=True)
