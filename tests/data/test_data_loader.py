import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.data import AugmentConfig, ImageDataset, Loader


def make(n: int = 50, c: int = 3) -> ImageDataset:
    # Example i has every pixel equal to i % 256 and label i, so batches reveal indices.
    x = (torch.arange(n) % 256).to(torch.uint8).reshape(n, 1, 1, 1).expand(n, c, 4, 4).contiguous()
    return ImageDataset(x, torch.arange(n), n, "toy", (0.5,) * c, (0.25,) * c)


def _seen(loader: Loader) -> list[int]:
    return [int(v) for _, y in loader for v in y]


def test_batches_are_float_on_device_and_scaled():
    loader = Loader(make(10), batch_size=4, device="cpu")
    batches = list(loader)
    assert len(loader) == len(batches) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (4, 3, 4, 4)
    assert torch.allclose(x[:, 0, 0, 0], torch.arange(4) / 255)
    assert len(Loader(make(10), batch_size=4, drop_last=True)) == 2


def test_normalize():
    x, _ = next(iter(Loader(make(10), batch_size=10, normalize=True)))
    assert torch.allclose(x[:, 1, 0, 0], (torch.arange(10) / 255 - 0.5) / 0.25)


def test_shuffle_is_deterministic_per_epoch():
    ds = make(40)
    a, b = Loader(ds, batch_size=7, shuffle=True, seed=1), Loader(ds, batch_size=7, shuffle=True, seed=1)
    first = _seen(a)
    assert sorted(first) == list(range(40)) and first != list(range(40))
    assert first == _seen(b) == _seen(a)  # same seed and epoch, same order
    a.set_epoch(1)
    assert _seen(a) != first
    b.set_epoch(1)
    assert _seen(a) == _seen(b)
    assert _seen(Loader(ds, batch_size=7, shuffle=True, seed=2)) != first


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 60), st.integers(1, 5), st.integers(1, 16), st.booleans(), st.integers(0, 3))
def test_ranks_get_disjoint_equal_shards(n, world, batch, shuffle, epoch):
    shards = []
    for rank in range(world):
        loader = Loader(make(n), batch_size=batch, shuffle=shuffle, rank=rank, world_size=world)
        loader.set_epoch(epoch)
        shards.append(_seen(loader))
        assert len(loader) == math.ceil(math.ceil(n / world) / batch)
    assert all(len(s) == math.ceil(n / world) for s in shards)
    together = [i for s in shards for i in s]
    assert sorted(set(together)) == list(range(n))  # every example is seen
    if n % world == 0:
        assert sorted(together) == list(range(n))  # exactly once


def test_augmentation_through_loader_is_seeded_and_per_rank():
    ds = make(16)
    cfg = AugmentConfig(crop=1, flip=True, cutout=2)
    def batches(seed, rank=0):
        return [x for x, _ in Loader(ds, batch_size=8, augment=cfg, seed=seed, rank=rank, world_size=2)]
    assert all(torch.equal(p, q) for p, q in zip(batches(0), batches(0)))
    assert not all(torch.equal(p, q) for p, q in zip(batches(0), batches(1)))
    custom = Loader(ds, batch_size=16, augment=lambda x, g: x + torch.rand(x.shape, generator=g))
    assert torch.equal(next(iter(custom))[0], next(iter(custom))[0])


def test_bad_arguments():
    with pytest.raises(ValueError):
        Loader(make(), rank=2, world_size=2)
    with pytest.raises(ValueError):
        Loader(make(), batch_size=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_match_cpu():
    ds, cfg = make(64), AugmentConfig(crop=1, cutout=2)
    cpu = list(Loader(ds, batch_size=16, shuffle=True, augment=cfg, normalize=True))
    gpu = list(Loader(ds, batch_size=16, shuffle=True, augment=cfg, normalize=True, device="cuda"))
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        assert xg.is_cuda and yg.is_cuda
        assert torch.allclose(xc, xg.cpu()) and torch.equal(yc, yg.cpu())
