import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.data import AugmentConfig, cutout, random_crop, random_flip
from bitrobust.data.augment import augment


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 8, c: int = 3, h: int = 32, w: int = 32) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=gen(123)) + 1.0  # > 1, so fill values stand out


def test_config_is_frozen_and_validated():
    cfg = AugmentConfig()
    assert (cfg.crop, cfg.flip, cfg.cutout, cfg.fill) == (4, True, 16, "mean")
    with pytest.raises(Exception):
        cfg.crop = 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        AugmentConfig(fill="gray")


def test_shapes_and_determinism():
    x = images()
    cfg = AugmentConfig()
    out = augment(x, cfg, gen(5), mean=(0.1, 0.2, 0.3))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, augment(x, cfg, gen(5), mean=(0.1, 0.2, 0.3)))
    assert not torch.equal(out, augment(x, cfg, gen(6), mean=(0.1, 0.2, 0.3)))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 12), st.integers(1, 12), st.integers(0, 5))
def test_crop_is_a_shifted_window_of_the_padded_image(seed, h, w, pad):
    x = images(4, 2, h, w)
    out = random_crop(x, pad, gen(seed), fill=0.0)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    for i in range(len(x)):
        windows = [padded[i, :, dy : dy + h, dx : dx + w] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)]
        assert any(torch.equal(out[i], win) for win in windows)


def test_crop_fills_with_channel_mean():
    out = random_crop(images(64), 4, gen(0), fill=(0.1, 0.2, 0.3))
    filled = out < 1.0
    assert filled.any()
    for c, v in enumerate((0.1, 0.2, 0.3)):
        assert torch.all(out[:, c][filled[:, c]] == torch.tensor(v))


def test_flip():
    x = images(64)
    out = random_flip(x, gen(0))
    flipped = torch.tensor([torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)])
    kept = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert (flipped ^ kept).all() and flipped.any() and kept.any()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 20))
def test_cutout_fills_one_clipped_window(seed, size):
    x = images(16)
    out = cutout(x, size, gen(seed), fill=0.0)
    for o in out:
        zero = (o == 0).all(0)  # H x W mask of filled pixels, same across channels
        assert torch.equal((o == 0).any(0), zero)
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        # A rectangle, at most size x size, exactly size x size where not clipped.
        assert zero.sum() == len(rows) * len(cols) > 0
        assert len(rows) == size or rows.min() == 0 or rows.max() == 31
        assert len(cols) == size or cols.min() == 0 or cols.max() == 31
        assert len(rows) <= size and len(cols) <= size
        assert torch.equal(rows, torch.arange(int(rows.min()), int(rows.max()) + 1))


def test_cutout_16_window_inside_is_full_and_zero_fill_option():
    x = images(256)
    out = cutout(x, 16, gen(0), fill=0.0)
    sizes = (out == 0).all(1).sum((1, 2))
    assert sizes.max() == 256 and sizes.min() > 0  # 16 x 16 when it fits, clipped otherwise
    zero = augment(x, AugmentConfig(crop=0, flip=False, cutout=16, fill="zero"), gen(0), mean=0.5)
    assert torch.equal(zero, out)
