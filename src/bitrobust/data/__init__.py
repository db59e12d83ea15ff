"""Datasets (MNIST, Fashion-MNIST, CIFAR-10/100): canonical files, md5 checks, on-device loaders.

Files are read from ``--data-dir``, ``$BITROBUST_DATA`` or a user cache, downloaded
from the canonical source when missing and md5-checked, then parsed into uint8
tensors (:func:`load_dataset`) that :class:`Loader` batches on the compute device.
"""

from bitrobust.data.augment import AugmentConfig, augment, cutout, random_crop, random_flip
from bitrobust.data.dataset import ImageDataset, load_dataset
from bitrobust.data.formats import RestrictedUnpickler, read_idx, safe_loads
from bitrobust.data.loader import Loader
from bitrobust.data.specs import DATASETS, DatasetSpec, FileSpec
from bitrobust.data.storage import (
    FileStatus,
    check_data,
    download_dataset,
    download_file,
    ensure_file,
    md5sum,
    resolve_data_dir,
)

__all__ = [
    "AugmentConfig",
    "DATASETS",
    "DatasetSpec",
    "FileSpec",
    "FileStatus",
    "ImageDataset",
    "Loader",
    "RestrictedUnpickler",
    "augment",
    "check_data",
    "cutout",
    "download_dataset",
    "download_file",
    "ensure_file",
    "load_dataset",
    "md5sum",
    "random_crop",
    "random_flip",
    "read_idx",
    "resolve_data_dir",
    "safe_loads",
]
