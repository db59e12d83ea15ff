"""A task from a user's callable: ``fn(output, targets) -> (correct, confidence)`` per prediction.

``correct`` is a boolean tensor (one entry per scored prediction) and ``confidence`` a float
tensor of the same shape (or None); batches are split as for classification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from bitrobust.errors import BitrobustError
from bitrobust.tasks.task import Score, split_batch


@dataclass(frozen=True)
class CustomTask:
    """Score batches with ``fn`` (see the module docstring).

    >>> task = CustomTask(lambda out, y: (out.round() == y, None))
    >>> score = task.score(torch.tensor([0.9, 2.2]), torch.tensor([1.0, 3.0]))
    >>> score.count, score.wrong, score.correct.tolist()
    (2, 1, [True, False])
    """

    fn: Callable[[Any, Any], tuple[torch.Tensor, torch.Tensor | None]]
    target_key: str = "labels"
    input_key: str | None = None
    name: str = "custom"

    def split(self, batch: Any) -> tuple[Any, Any]:
        return split_batch(batch, self.target_key, self.input_key)

    @torch.no_grad()
    def score(self, output: Any, targets: Any) -> Score:
        correct, confidence = self.fn(output, targets)
        if not isinstance(correct, torch.Tensor) or correct.dtype != torch.bool:
            raise BitrobustError("a custom task's function must return a boolean tensor of correct predictions first")
        conf = 0.0 if confidence is None else float(torch.as_tensor(confidence).float().sum())
        return Score(correct.numel(), int(correct.numel() - correct.sum()), conf, correct.reshape(-1))
