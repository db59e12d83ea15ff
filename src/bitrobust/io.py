"""Safe, atomic files: text, JSON and safetensors, always write-then-rename.

Every write goes to a temporary file in the target directory and is renamed into place,
so an interrupted run never leaves a half-written result (only a hidden temporary, which
:func:`remove_temporaries` clears); tensors are stored as
safetensors (tensors only, never code), so loading never unpickles anything. Model
checkpoints (tensors + how to rebuild the model) are :mod:`bitrobust.models.checkpoint`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from bitrobust.errors import BitrobustError


_TMP_SUFFIX = ".tmp"  # atomic_path's temporary for NAME: .NAME.<random>.tmp beside NAME


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    The one atomic writer of bitrobust: everything that writes a file goes through it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with atomic_path(Path(d) / "out.txt") as tmp:
    ...         _ = tmp.write_text("done")
    ...     sorted(p.name for p in Path(d).iterdir())
    ['out.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_temporaries(folder: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Delete the temporaries of :func:`atomic_path` for the files ``names`` in ``folder``; returns them.

    A process killed inside an ``atomic_path`` block leaves its temporary behind; call this only
    when no other process writes these files.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / ".out.txt.k2j4.tmp").write_text("half")
    ...     _ = (Path(d) / ".other.txt.x7q1.tmp").write_text("another writer's")
    ...     [p.name for p in remove_temporaries(d, ["out.txt"])], sorted(p.name for p in Path(d).iterdir())
    (['.out.txt.k2j4.tmp'], ['.other.txt.x7q1.tmp'])
    """
    removed = []
    for name in names:
        for tmp in sorted(Path(folder).glob(f".{glob.escape(name)}.*{_TMP_SUFFIX}")):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()
                removed.append(tmp)
    return removed


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (parent folders are created)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON (keys in their order) atomically; :func:`read_json` reads it back.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_json(Path(d) / "r.json", {"p": 0.01, "chips": [0, 1]})
    ...     read_json(Path(d) / "r.json")
    {'p': 0.01, 'chips': [0, 1]}
    """
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """The JSON in ``path``; a missing or corrupt file is a BitrobustError naming ``what``."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BitrobustError(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BitrobustError(f"corrupt {what} {path}: {exc}") from None


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (moved to the CPU) as safetensors atomically; :func:`load_tensors_file` reads them.

    Tensors that share memory (tied weights, e.g. a language model's embedding and output
    layer) are each stored in full, so every name loads back.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_tensors(Path(d) / "t.safetensors", {"w": torch.arange(3)})
    ...     load_tensors_file(Path(d) / "t.safetensors")
    {'w': tensor([0, 1, 2])}
    """
    out, seen = {}, set()
    for k, v in tensors.items():
        v = v.detach().contiguous().cpu()
        key = v.untyped_storage().data_ptr() if v.numel() else None
        out[k] = v.clone() if key in seen else v
        seen.add(key)
    with atomic_path(path) as tmp:
        save_file(out, str(tmp), metadata=metadata)


def load_tensors_file(path: str | os.PathLike, what: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (never unpickled); missing or corrupt: a BitrobustError."""
    return load_tensors_with_metadata(path, what)[0]


def load_tensors_with_metadata(path: str | os.PathLike, what: str = "checkpoint") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the metadata (``save_tensors(..., metadata=)``) of a safetensors file, read together.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_tensors(Path(d) / "t.safetensors", {"w": torch.arange(3)}, metadata={"epoch": "2"})
    ...     load_tensors_with_metadata(Path(d) / "t.safetensors")
    ({'w': tensor([0, 1, 2])}, {'epoch': '2'})
    """
    path = Path(path)
    if not path.is_file():
        raise BitrobustError(f"{what} not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise BitrobustError(f"corrupt {what} {path}: {exc}") from None
