import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.data import ImageDataset
from bitrobust.errors import BitrobustError


def make(n: int = 100, classes: int = 10, seed: int = 0, c: int = 1, hw: int = 4) -> ImageDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, hw, hw), generator=g, dtype=torch.uint8)
    y = torch.randint(0, classes, (n,), generator=g)
    return ImageDataset(x, y, classes, "toy", (0.5,) * c, (0.25,) * c)


def test_dataset_validates_its_tensors():
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int64), 10, "t", (0.0,), (1.0,))
    with pytest.raises(ValueError, match="int64"):
        ImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), 10, "t", (0.0,), (1.0,))


def test_to_keeps_everything_and_len():
    ds = make()
    moved = ds.to("cpu")
    assert moved is ds and len(ds) == 100
    assert "toy" in repr(ds) and "n=100" in repr(ds)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200), st.integers(2, 12), st.integers(0, 10**6), st.data())
def test_stratified_subset_is_balanced(n_total, classes, seed, data):
    ds = make(n_total, classes, seed)
    n = data.draw(st.integers(0, n_total))
    sub = ds.subset(n, seed=seed)
    assert len(sub) == n
    # Balanced: no class gets two more than another unless the other ran out of examples.
    have = torch.bincount(ds.y, minlength=classes)
    got = torch.bincount(sub.y, minlength=classes)
    assert (got <= have).all()
    short = got < have
    if short.any():
        assert got.max() <= got[short].min() + 1
    # Rows are real rows of the original, in the original order, without repeats.
    rows = {tuple(r.flatten().tolist()) + (int(l),) for r, l in zip(ds.x, ds.y)}
    assert all(tuple(r.flatten().tolist()) + (int(l),) in rows for r, l in zip(sub.x, sub.y))


def test_subset_is_seeded():
    ds = make(500)
    assert torch.equal(ds.subset(50, seed=3).x, ds.subset(50, seed=3).x)
    assert not torch.equal(ds.subset(50, seed=3).x, ds.subset(50, seed=4).x)
    assert torch.equal(ds.subset(50, seed=3, stratified=False).y, ds.subset(50, seed=3, stratified=False).y)
    assert torch.equal(ds.subset(500, seed=1).x, ds.x)
    with pytest.raises(BitrobustError, match="subset of 501"):
        ds.subset(501)
