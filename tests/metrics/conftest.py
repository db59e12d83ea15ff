"""Fixtures for the BNN metric tests: MNIST subsets and small BNNs trained in seconds."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bitrobust.models.bnn import BNN, build_bnn
from bitrobust.nn.binary import clip_latent_weights


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(data_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images N x 1 x 28 x 28 and int64 labels, via bitrobust.data when it is there."""
    try:
        from bitrobust.data import load_dataset
    except ImportError:  # pragma: no cover - the data package is written concurrently
        prefix = "train" if split == "train" else "t10k"
        x = _read_idx(data_dir / "mnist" / f"{prefix}-images-idx3-ubyte.gz")
        y = _read_idx(data_dir / "mnist" / f"{prefix}-labels-idx1-ubyte.gz")
        return torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))
    ds = load_dataset("mnist", split, data_dir=data_dir, download=False, progress=False)
    return ds.x, ds.y


def train_bnn(arch: str, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int = 64, seed: int = 0) -> BNN:
    """A few hundred Adam steps (lr 1e-2) with latent-weight clipping; returned in eval mode."""
    model = build_bnn(arch, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        clip_latent_weights(model)
    return model.eval()


@pytest.fixture(scope="session")
def mnist_small(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """4000 training and 1000 test images of MNIST (uint8) with labels."""
    xtr, ytr = load_mnist(data_dir, "train")
    xte, yte = load_mnist(data_dir, "test")
    return xtr[:4000], ytr[:4000], xte[:1000], yte[:1000]


@pytest.fixture(scope="session")
def trained_fc(mnist_small) -> BNN:
    xtr, ytr, _, _ = mnist_small
    return train_bnn("FC32-FC32-10", xtr, ytr, steps=150)


@pytest.fixture(scope="session")
def trained_cnn(mnist_small) -> BNN:
    xtr, ytr, _, _ = mnist_small
    return train_bnn("C6-MP2-C6-MP2-FC24-10", xtr, ytr, steps=60)
