"""Safe, atomic files: JSON, safetensors checkpoints, and write-then-rename.

Checkpoints are a ``.safetensors`` file (tensors only, never code) plus a ``.json``
file beside it that says how to rebuild the model (registry name and arguments).
Loading validates both and never unpickles anything. Every write goes to a temporary
file in the target directory and is renamed into place, so an interrupted run never
leaves a half-written result.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from bitrobust.errors import BitrobustError

CHECKPOINT_FORMAT = "bitrobust-checkpoint"
CHECKPOINT_VERSION = 1
MODEL_FILE = "model.safetensors"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BitrobustError(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BitrobustError(f"corrupt {what} {path}: {exc}") from None


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def load_tensors_file(path: str | os.PathLike, what: str = "checkpoint") -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise BitrobustError(f"{what} not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BitrobustError(f"corrupt {what} {path}: {exc}") from None


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(tensors, metadata) paths of a checkpoint given as a run directory, .safetensors or .json."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    return path, path.with_suffix(".json")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, meta: dict) -> Path:
    """Write ``model``'s state (safetensors) and ``meta`` (JSON; must hold ``model``: name + kwargs)."""
    tensors_path, meta_path = checkpoint_paths(path)
    if "model" not in meta or "name" not in meta["model"]:
        raise ValueError("checkpoint metadata needs model.name (and model.kwargs)")
    save_tensors(tensors_path, model.state_dict())
    write_json(meta_path, {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **meta})
    return tensors_path


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    _, meta_path = checkpoint_paths(path)
    meta = read_json(meta_path, "checkpoint metadata")
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise BitrobustError(f"{meta_path} is not a bitrobust checkpoint (no format: {CHECKPOINT_FORMAT})")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise BitrobustError(f"{meta_path}: unsupported checkpoint version {meta.get('version')!r}")
    model = meta.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise BitrobustError(f"{meta_path}: checkpoint metadata has no model name")
    return meta


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model named in the metadata and load its tensors (strictly)."""
    from bitrobust.models import build_model

    tensors_path, _ = checkpoint_paths(path)
    meta = read_checkpoint_meta(path)
    model = build_model(meta["model"]["name"], **meta["model"].get("kwargs", {}))
    state = load_tensors_file(tensors_path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if names
        )
        raise BitrobustError(f"checkpoint {tensors_path} does not match model {meta['model']['name']!r} ({detail})")
    model.load_state_dict(state)
    return model.to(device), meta
