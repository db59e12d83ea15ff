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
from bitrobust.formats import get_format
from bitrobust.quantization.fixed_point import check_bits, resolve_scheme

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
    """The validated metadata of the checkpoint ``path`` (a run directory, .safetensors or .json).

    Besides the format and version it checks the types of what loading uses: ``model`` (name, kwargs),
    ``data`` and ``quant`` (bits, scheme and its overrides, exclude globs), so a corrupt file is a
    one-line error.
    """
    if not Path(path).exists():
        raise BitrobustError(f"run directory or checkpoint not found: {path}")
    _, meta_path = checkpoint_paths(path)
    meta = read_json(meta_path, "checkpoint metadata")
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise BitrobustError(f"{meta_path} is not a bitrobust checkpoint (no format: {CHECKPOINT_FORMAT})")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise BitrobustError(f"{meta_path}: unsupported checkpoint version {meta.get('version')!r}")
    model = meta.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise BitrobustError(f"{meta_path}: checkpoint metadata has no model name")
    sections = {"model.kwargs": model.get("kwargs"), "data": meta.get("data"), "quant": meta.get("quant"),
                "config": meta.get("config")}
    for key, value in sections.items():
        if value is not None and not isinstance(value, dict):
            raise BitrobustError(f"{meta_path}: {key} must be an object, got {value!r}")
    if meta.get("quant") is not None:
        _check_quant(meta["quant"], meta_path)
    return meta


def _check_quant(quant: dict, where: Path) -> None:
    """The checkpoint's ``quant``: bits 1..8, a known scheme with valid overrides, a list of exclude globs;
    or a known number ``format`` (contract 5) with its width as bits."""
    try:
        if quant.get("format") is not None:
            if not isinstance(quant["format"], str):
                raise BitrobustError(f"format must be a name, got {quant['format']!r}")
            width = get_format(quant["format"]).bits
            if quant.get("bits", width) != width:
                raise BitrobustError(f"format {quant['format']} has {width}-bit words, not bits {quant['bits']!r}")
        elif quant.get("bits") is not None:
            check_bits(quant["bits"])
        if not isinstance(quant.get("scheme", "rquant"), str):
            raise BitrobustError(f"scheme must be a name, got {quant['scheme']!r}")
        overrides = quant.get("overrides") or {}
        if not isinstance(overrides, dict):
            raise BitrobustError(f"overrides must be an object, got {overrides!r}")
        resolve_scheme(quant.get("scheme", "rquant"), **overrides)
        exclude = quant.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(g, str) for g in exclude):
            raise BitrobustError(f"exclude must be a list of parameter-name globs, got {exclude!r}")
    except BitrobustError as exc:
        raise BitrobustError(f"{where}: quant: {exc}") from None


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model named in the metadata and load its tensors (strictly)."""
    tensors_path, _ = checkpoint_paths(path)
    meta = read_checkpoint_meta(path)
    model = build_model(meta["model"]["name"], **(meta["model"].get("kwargs") or {}))
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
