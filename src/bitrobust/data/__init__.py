"""Datasets (MNIST, Fashion-MNIST, CIFAR-10/100, a byte-level English text): canonical files, md5 checks,
on-device loaders.

Files are read from ``--data-dir``, ``$BITROBUST_DATA`` or a user cache, downloaded
from the canonical source when missing and md5-checked, then parsed into uint8
tensors (:func:`load_dataset`) that :class:`Loader` batches on the compute device.
The names below are imported from their modules on first use, so the dataset registry
and file checks (``bitrobust data``) do not load torch. (The function ``augment`` is
``bitrobust.data.augment.augment``: the package attribute ``augment`` is that module.)
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "AugmentConfig": "augment", "cutout": "augment", "random_crop": "augment",
    "random_flip": "augment",
    "ImageDataset": "dataset", "load_dataset": "dataset",
    "RestrictedUnpickler": "formats", "read_idx": "formats", "safe_loads": "formats",
    "BlockLoader": "loader", "Loader": "loader",
    "DATASETS": "specs", "DatasetSpec": "specs", "FileSpec": "specs", "PackageFile": "specs", "TEXTS": "specs", "TextSpec": "specs",
    "dataset_spec": "specs",
    "TokenBlocks": "text", "load_text": "text", "text_bytes": "text",
    "FileStatus": "storage", "check_data": "storage", "download_dataset": "storage", "download_file": "storage",
    "ensure_file": "storage", "md5sum": "storage", "resolve_data_dir": "storage",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:  # PEP 562
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
