"""Model checkpoints: a ``.safetensors`` file with the state (tensors only, never code) plus a
``.json`` file beside it that says how to rebuild the model (registry name and arguments).

Loading validates both, rebuilds the registered model and loads its tensors strictly; it
never unpickles anything. This is the one checkpoint loader of the project.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.io import load_tensors_file, read_json, save_tensors, write_json
from bitrobust.models.base import build_model

CHECKPOINT_FORMAT = "bitrobust-checkpoint"
CHECKPOINT_VERSION = 1
MODEL_FILE = "model.safetensors"


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
