"""Model registry, ``build_model`` and parameter bookkeeping shared by all architectures.

Architectures register a factory in :data:`MODELS`; :func:`build_model` looks it up
by name (unknown names list the valid ones). The number of weights W counts every
floating-point parameter - conv/linear weights and biases and normalization
scales/biases - as in paper 3, Table 6, since all of them are quantized and stored.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.limits import check_allocation
from bitrobust.registry import Registry

ModelFactory = Callable[..., nn.Module]
MODELS: Registry[ModelFactory] = Registry("model")


@dataclass(frozen=True)
class ModelCost:
    """Runtime metadata of an architecture, kept with its registration (timm keeps per-model metadata
    the same way): seconds per training step (the recipe's batch) and per pass over 10,000 test
    images, on one CPU thread and on one GPU (None: unknown), at the reference size; a model of
    relative size s costs s times as much."""

    cpu: tuple[float, float] | None = None
    gpu: tuple[float, float] | None = None
    note: str = ""

    def at(self, device: str) -> tuple[float, float] | None:
        return self.cpu if device == "cpu" else self.gpu


CostFn = Callable[[Mapping[str, object]], tuple[ModelCost, float]]
MODEL_COSTS: Registry[CostFn] = Registry("model cost")


def width_squared(cost: ModelCost) -> CostFn:
    """Cost function of a CNN whose cost grows with the square of its ``width`` multiplier."""
    return lambda kwargs: (cost, float(kwargs.get("width", 1.0)) ** 2)  # type: ignore[arg-type]


def model_cost(name: str, kwargs: Mapping[str, object]) -> tuple[ModelCost, float] | None:
    """(cost at the reference size, relative size) of model ``name`` built with ``kwargs``; None if unknown.

    >>> cost, size = model_cost("cnn_small", {"width": 0.5})
    >>> size
    0.25
    """
    return MODEL_COSTS.get(name)(kwargs) if name in MODEL_COSTS else None


def build_model(
    name: str,
    *,
    num_classes: int = 10,
    in_channels: int | None = None,
    norm: str | None = None,
    width: float = 1.0,
    seed: int | None = None,
    **kwargs: object,
) -> nn.Module:
    """Build registered model ``name``.

    ``in_channels`` and ``norm`` default to the architecture's own defaults (e.g. 3
    and ``rgn`` for ``simplenet_cifar``); ``width`` multiplies channel/hidden widths;
    ``seed`` makes the initialisation deterministic without touching the global RNG.
    Further keyword arguments go to the architecture (e.g. ``base_width`` for WRN).
    :func:`check_model` runs first, so bad arguments or a size beyond the limits are a
    BitrobustError before any memory is used.
    """
    check_model(name, num_classes=num_classes, in_channels=in_channels, norm=norm, width=width, **kwargs)
    factory, args = _arguments(name, num_classes, in_channels, norm, width, seed, kwargs)
    return factory(**args)


def check_model(
    name: str,
    *,
    num_classes: int = 10,
    in_channels: int | None = None,
    norm: str | None = None,
    width: float = 1.0,
    **kwargs: object,
) -> int:
    """Check that :func:`build_model` can build ``name`` with these arguments, without allocating anything:
    the model is built on the meta device, and arguments it cannot be built from, or more parameter and
    buffer elements than :func:`~bitrobust.limits.check_allocation` allows, are a BitrobustError.
    Returns the number of elements.

    >>> check_model("cnn_small", channels=[4, 8])
    4290
    >>> check_model("mlp", width=10**5)
    Traceback (most recent call last):
    bitrobust.errors.BitrobustError: model 'mlp' with width=100000 (parameters and buffers): 655,380,377,600,010 elements (2,621,521,510,400,040 bytes) is more than the limit of 2,147,483,648 elements
    """
    factory, args = _arguments(name, num_classes, in_channels, norm, width, None, kwargs)
    given = {**({"width": width} if width != 1.0 else {}), **kwargs}
    where = f"model {name!r}" + (f" with {', '.join(f'{k}={v!r}' for k, v in given.items())}" if given else "")
    try:
        with torch.device("meta"):
            model = factory(**args)
    except (TypeError, ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BitrobustError(f"{where}: cannot be built ({reason})") from None
    tensors = [*model.parameters(), *model.buffers()]
    elements = sum(t.numel() for t in tensors)
    check_allocation(elements, sum(t.numel() * t.element_size() for t in tensors), f"{where} (parameters and buffers)")
    return elements


def _arguments(name: str, num_classes: object, in_channels: object, norm: object, width: object, seed: int | None,
               kwargs: dict[str, object]) -> tuple[ModelFactory, dict[str, object]]:
    """The factory of ``name`` and the keyword arguments it is called with (validated)."""
    factory = MODELS.get(name)
    for key, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise BitrobustError(f"{key} must be an integer >= 1, got {value!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width < float("inf"):
        raise BitrobustError(f"width must be a number > 0, got {width!r}")
    args: dict[str, object] = {"num_classes": num_classes, "width": width, **kwargs}
    if in_channels is not None:
        args["in_channels"] = in_channels
    if norm is not None:
        args["norm"] = norm
    if seed is not None:
        args["generator"] = torch.Generator().manual_seed(seed)
    accepted = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(k for k in args if k not in accepted)
    if unknown == ["generator"] and not takes_any:
        raise BitrobustError(f"model {name!r} does not support seed")
    if unknown and not takes_any:
        valid = ", ".join(sorted(k for k in accepted if k != "generator"))
        raise BitrobustError(f"model {name!r} has no option {', '.join(unknown)}; valid: {valid}")
    return factory, args


def scaled(channels: int, width: float) -> int:
    """``channels`` times the width multiplier, rounded, at least 1."""
    return max(1, int(round(channels * width)))


def he_init(model: nn.Module, *, mode: str = "fan_in", generator: torch.Generator | None = None) -> None:
    """He (Kaiming) normal init of conv/linear weights, zero biases (paper 3, App. F).

    Normalization layers keep their own init (scale 1 or alpha' = 0, bias 0).
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu", generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def count_weights(model: nn.Module) -> int:
    """Number of weights W: elements of every floating-point parameter (paper 3, Table 6)."""
    return sum(p.numel() for p in model.parameters() if p.is_floating_point())


@dataclass(frozen=True)
class ParamRow:
    """One parameter tensor of a model: dotted name, shape and element count."""

    name: str
    shape: tuple[int, ...]
    count: int


def parameter_table(model: nn.Module) -> list[ParamRow]:
    """One row per floating-point parameter, in ``named_parameters()`` (memory) order."""
    return [
        ParamRow(name, tuple(p.shape), p.numel())
        for name, p in model.named_parameters()
        if p.is_floating_point()
    ]


def describe(model: nn.Module) -> str:
    """Markdown table of the model's parameters (name, shape, count) with the total W."""
    rows = parameter_table(model)
    lines = ["| parameter | shape | count |", "| --- | --- | ---: |"]
    lines += [f"| `{r.name}` | {'x'.join(map(str, r.shape))} | {r.count:,} |" for r in rows]
    lines.append(f"| **total W** | | {sum(r.count for r in rows):,} |")
    return "\n".join(lines)
