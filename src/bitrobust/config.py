"""Frozen dataclass configs from nested dicts (YAML recipes) with ``key=value`` overrides.

Recipes are YAML files whose nesting mirrors the config dataclasses; command-line
``--set optim.lr=0.1`` overrides single fields (values parsed as YAML scalars).
Unknown keys are errors that list the valid ones, and the resolved config is written
next to every result so a run can be repeated exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml

from bitrobust.errors import BitrobustError

C = TypeVar("C")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where available: same results, faster


def _parse(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise BitrobustError(f"{where} must be a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where) if len(inner) == 1 else value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        item = args[0] if args else Any
        return tuple(_convert(item, v, where) for v in value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool, dict) and not isinstance(value, tp):
        raise BitrobustError(f"{where} must be {'a mapping' if tp is dict else tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type[C], data: dict, where: str = "config") -> C:
    """Build dataclass ``cls`` from a nested dict; unknown keys raise with the valid ones."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise BitrobustError(f"unknown key {where}.{unknown[0]}; valid: {', '.join(fields)}")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise BitrobustError(f"{where}: {exc}") from None


def check_range(where: str, value: float, low: float, high: float | None = None, low_open: bool = False) -> None:
    """A recipe value must be a number >= ``low`` (> with ``low_open``) and <= ``high``; NaN never is.

    >>> check_range("optim.lr", -1.0, low=0.0)
    Traceback (most recent call last):
    bitrobust.errors.BitrobustError: optim.lr must be >= 0.0, got -1.0
    """
    ok = value > low if low_open else value >= low
    if not (ok and (high is None or value <= high)):
        bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise BitrobustError(f"{where} must be {bound}, got {value!r}")


OMIT_DEFAULT = {"omit_default": True}
"""Field metadata of a setting added later: left out of :func:`to_dict` while it has its default, so
configs that do not set it keep their dicts (and hashes: experiment directories) as they were."""


def to_dict(obj: Any) -> Any:
    """Plain nested dicts/lists of a config (for YAML/JSON); fields marked :data:`OMIT_DEFAULT` only when set.

    >>> @dataclasses.dataclass
    ... class Q:
    ...     bits: int = 8
    ...     format: str | None = dataclasses.field(default=None, metadata=OMIT_DEFAULT)
    >>> to_dict(Q()), to_dict(Q(format="bf16"))
    ({'bits': 8}, {'bits': 8, 'format': 'bf16'})
    """
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not (f.metadata.get("omit_default") and getattr(obj, f.name) == f.default)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    """Return a copy of ``data`` with ``a.b.c=value`` overrides applied (YAML-parsed values)."""
    out = copy.deepcopy(data) or {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise BitrobustError(f"override {item!r} is not of the form key=value")
        try:
            value = _parse(raw)
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise BitrobustError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return out


def load_yaml(path: str | Path) -> dict:
    """The mapping in the YAML file ``path`` ({} if the file is empty); anything unreadable is a BitrobustError."""
    path = Path(path)
    try:
        data = _parse(path.read_text())
    except FileNotFoundError:
        raise BitrobustError(f"recipe not found: {path}") from None
    except UnicodeDecodeError:
        raise BitrobustError(f"{path} is not a YAML file (not UTF-8 text)") from None
    except OSError as exc:  # a directory, no permission
        raise BitrobustError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise BitrobustError(f"invalid YAML in {path}: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BitrobustError(f"{path} must contain a mapping at the top level")
    return data


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False)
