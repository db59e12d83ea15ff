"""Fixtures for the data tests: the real MNIST files (if $BITROBUST_DATA has them) and
small CIFAR tarballs written in the canonical pickle format."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from bitrobust.data import DATASETS, DatasetSpec, md5sum


@pytest.fixture
def real_data() -> Path:
    """The data root of $BITROBUST_DATA; skips when it does not hold MNIST."""
    root = os.environ.get("BITROBUST_DATA")
    if not root or not (Path(root) / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("set BITROBUST_DATA to a folder with the MNIST files (e.g. shared/data)")
    return Path(root)


def _add(tar: tarfile.TarFile, name: str, obj: object) -> None:
    data = pickle.dumps(obj, protocol=2)
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_cifar(root: Path, kind: str, n: int = 6, seed: int = 0) -> tuple[DatasetSpec, dict]:
    """Write ``<root>/<subdir>/<canonical tarball>`` with ``n`` images per batch.

    Returns the spec with the tarball's md5 and the expected arrays per split.
    """
    spec = DATASETS.get(kind)
    rng = np.random.default_rng(seed)
    classes = spec.num_classes
    path = root / spec.subdir / spec.files[0].name
    path.parent.mkdir(parents=True, exist_ok=True)
    expected: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}

    def batch(split: str, label_key: bytes) -> dict:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, classes, size=n)]
        expected[split][0].append(data.reshape(n, 3, 32, 32))
        expected[split][1].append(labels)
        return {b"batch_label": b"fake", b"data": data, label_key: labels, b"filenames": [b"x.png"] * n}

    with tarfile.open(path, "w:gz") as tar:
        if kind == "cifar10":
            for i in range(1, 6):
                _add(tar, f"cifar-10-batches-py/data_batch_{i}", batch("train", b"labels"))
            _add(tar, "cifar-10-batches-py/test_batch", batch("test", b"labels"))
            _add(tar, "cifar-10-batches-py/batches.meta", {b"label_names": [b"c%d" % i for i in range(10)]})
        else:
            for split in ("train", "test"):
                b = batch(split, b"fine_labels")
                b[b"coarse_labels"] = [v // 5 for v in b[b"fine_labels"]]
                _add(tar, f"cifar-100-python/{split}", b)
            _add(tar, "cifar-100-python/meta", {b"fine_label_names": [b"f%d" % i for i in range(100)]})
    arrays = {
        s: (np.concatenate(x), np.concatenate(y).astype(np.int64)) for s, (x, y) in expected.items()
    }
    return spec.with_md5s({path.name: md5sum(path)}), arrays


@pytest.fixture
def cifar_writer() -> Callable[..., tuple[DatasetSpec, dict]]:
    return write_cifar
