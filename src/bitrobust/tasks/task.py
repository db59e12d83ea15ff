"""What a forward pass is scored by (contract 7): a task splits a batch and scores the output.

A batch is an ``(inputs, targets)`` tuple, or a dict whose keys the task names (the target
key; the input key, or else every other key as keyword arguments of the model). A model's
output is a tensor, or a dict or object with ``logits`` (as Hugging Face models return).
A task scores one batch as a :class:`Score`: how many predictions were counted, how many
were wrong, and the sum of their confidences (max softmax probability); a language model's
task also sums the negative log-likelihood of its targets, from which evaluation reports the
perplexity. The error under bit errors -- RErr -- is the task's error with faulty weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

import torch

from bitrobust.errors import BitrobustError


@dataclass(frozen=True)
class Score:
    """The score of one batch: ``count`` predictions, ``wrong`` of them wrong, confidences summing to
    ``confidence``; ``correct`` says which (one boolean per counted prediction, in order); ``nonfinite``
    of them had non-finite outputs (counted wrong: contract 5); ``nll``, for tasks that have one (a causal
    LM), the summed negative log-likelihood of the targets in nats."""

    count: int
    wrong: int
    confidence: float
    correct: torch.Tensor | None = None
    nonfinite: int = 0
    nll: float | None = None


class Task(Protocol):
    """Splits a batch into (inputs, targets) and scores the model's output on it."""

    name: str

    def split(self, batch: Any) -> tuple[Any, Any]: ...

    def score(self, output: Any, targets: Any) -> Score: ...


def logits_of(output: Any) -> torch.Tensor:
    """The logits in a model output: the tensor itself, ``output["logits"]`` or ``output.logits``.

    >>> logits_of({"logits": torch.zeros(2, 3)}).shape
    torch.Size([2, 3])
    """
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping) and "logits" in output:
        return output["logits"]
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    raise BitrobustError(f"cannot score a model output of type {type(output).__name__}: expected a tensor of "
                         "logits or a dict/object with 'logits'")


def split_batch(batch: Any, target_key: str, input_key: str | None) -> tuple[Any, Any]:
    """``(inputs, targets)`` of a tuple/list batch or a dict batch (see the module docstring)."""
    if isinstance(batch, Mapping):
        if target_key not in batch:
            raise BitrobustError(f"a dict batch needs the target key {target_key!r}; it has {', '.join(map(str, batch))}")
        if input_key is not None:
            if input_key not in batch:
                raise BitrobustError(f"a dict batch needs the input key {input_key!r}; it has {', '.join(map(str, batch))}")
            return batch[input_key], batch[target_key]
        return {k: v for k, v in batch.items() if k != target_key}, batch[target_key]
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise BitrobustError(f"a batch must be an (inputs, targets) pair or a dict, got {type(batch).__name__}"
                         + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))


def run_batch(model: Any, batch: Any, task: Task, device: torch.device) -> tuple[Any, Any]:
    """(output, targets) of ``model`` on one batch: split by ``task``, moved to ``device``; a dict of inputs is
    passed as keyword arguments.

    >>> from bitrobust.tasks import Classification
    >>> out, y = run_batch(lambda pixels: 2 * pixels, {"pixels": torch.ones(1, 2), "labels": torch.zeros(1)},
    ...                    Classification(target_key="labels"), torch.device("cpu"))
    >>> out.tolist(), y.tolist()
    ([[2.0, 2.0]], [0.0])
    """
    inputs, targets = task.split(batch)
    inputs, targets = to_device(inputs, device), to_device(targets, device)
    return (model(**inputs) if isinstance(inputs, Mapping) else model(inputs)), targets


def to_device(value: Any, device: torch.device) -> Any:
    """Tensors (also inside dicts, lists and tuples) moved to ``device``; anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value
