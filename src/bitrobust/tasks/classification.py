"""Classification, the default task: the arg-max of the logits against integer labels.

Outputs ``[N, C]`` score one prediction per example; outputs ``[N, T, C]`` (token-level
classification, e.g. a tagger or a language model's next-token logits already aligned with
their targets) one per position, with targets ``ignore_index`` (-100, PyTorch's and Hugging
Face's convention) left out. Confidence is the max softmax probability (paper 3, Sec. 5).
A prediction whose logits are not all finite (a flipped float exponent can give inf/NaN)
counts as wrong with confidence 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bitrobust.errors import BitrobustError
from bitrobust.tasks.task import Score, logits_of, split_batch


@dataclass(frozen=True)
class Classification:
    """Classification of ``(x, y)`` batches or dict batches with ``target_key`` (and ``input_key``).

    >>> task = Classification()
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    >>> score = task.score(logits, torch.tensor([0, 0, 0]))
    >>> score.count, score.wrong, round(score.confidence, 2)
    (3, 1, 2.56)
    """

    target_key: str = "labels"
    input_key: str | None = None
    ignore_index: int = -100
    name: str = "classification"

    def split(self, batch: Any) -> tuple[Any, Any]:
        return split_batch(batch, self.target_key, self.input_key)

    @torch.no_grad()
    def score(self, output: Any, targets: torch.Tensor) -> Score:
        logits = logits_of(output)
        if logits.dim() < 2:
            raise BitrobustError(f"classification needs logits of shape [N, C] or [N, T, C], got {list(logits.shape)}")
        if logits.shape[:-1] != targets.shape:
            raise BitrobustError(f"the logits {list(logits.shape)} do not match the targets {list(targets.shape)}: "
                                 "expected [N, C] with N targets, or [N, T, C] with [N, T] targets")
        logits, targets = logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1)
        keep = targets != self.ignore_index
        if not bool(keep.all()):
            logits, targets = logits[keep], targets[keep]
        finite = torch.isfinite(logits).all(dim=1)
        top, pred = torch.softmax(logits, dim=1).max(dim=1)
        right = (pred == targets) & finite
        confidence = torch.where(finite, top, torch.zeros_like(top))
        return Score(len(targets), int(len(targets) - right.sum()), float(confidence.sum()), right,
                     int(len(targets) - finite.sum()))
