"""Causal language modelling (contract 7): next-token error and perplexity of a model's logits.

A batch holds token ids ``x`` and targets ``y`` aligned with the logits: ``y[n, t]`` is the
token after ``x[n, t]`` (as :class:`~bitrobust.data.text.TokenBlocks` serves them,
``x = tokens[i:i+L]``, ``y = tokens[i+1:i+L+1]``); with ``shift=True`` the targets are the
inputs themselves (Hugging Face's ``labels`` convention) and the task shifts them by one.
Targets ``ignore_index`` (-100) are left out. Per batch the task counts the scored tokens,
the wrong arg-max predictions and the summed negative log-likelihood

    NLL = - sum_t log softmax(logits_t)[y_t]   (in nats),

so evaluation reports the next-token error and the perplexity PPL = exp(NLL_total / tokens)
of the whole evaluation set (summed over batches, never a mean of per-batch perplexities).
A token whose logits are not all finite (a flipped float exponent) is wrong, with NLL = inf.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from bitrobust.errors import BitrobustError
from bitrobust.tasks.classification import Classification
from bitrobust.tasks.task import Score, logits_of, split_batch


def _aligned(output: Any, targets: torch.Tensor, shift: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [M, V], targets [M]) of every position, after the optional shift."""
    logits = logits_of(output)
    if logits.dim() != 3:
        raise BitrobustError(f"a causal LM needs logits of shape [N, T, V], got {list(logits.shape)}")
    if shift:
        logits, targets = logits[:, :-1], targets[:, 1:]
    if logits.shape[:-1] != targets.shape:
        raise BitrobustError(f"the logits {list(logits.shape)} do not match the targets {list(targets.shape)}: "
                             "expected [N, T, V] logits with [N, T] targets")
    return logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)


def token_cross_entropy(output: Any, targets: torch.Tensor, *, ignore_index: int = -100, shift: bool = False,
                        label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean next-token cross-entropy over the targets that are not ``ignore_index`` (the training loss).

    >>> logits = torch.zeros(1, 2, 4)  # uniform over 4 tokens: log 4 per token
    >>> round(float(token_cross_entropy(logits, torch.tensor([[1, -100]]))), 4) == round(float(torch.tensor(4.0).log()), 4)
    True
    """
    logits, targets = _aligned(output, targets, shift)
    return F.cross_entropy(logits, targets, ignore_index=ignore_index, label_smoothing=label_smoothing)


@dataclass(frozen=True)
class CausalLM:
    """Next-token prediction of ``(x, y)`` or dict batches (``target_key``; ``input_key``, else the other
    keys as keyword arguments of the model); see the module docstring.

    >>> task = CausalLM()
    >>> logits = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]))
    >>> score = task.score(logits, torch.tensor([[0, 1]]))
    >>> score.count, score.wrong, round(score.nll, 4) == round(-float(torch.tensor([0.5 * 0.1]).log()), 4)
    (2, 1, True)
    """

    target_key: str = "labels"
    input_key: str | None = None
    ignore_index: int = -100
    shift: bool = False
    name: str = "causal_lm"

    def split(self, batch: Any) -> tuple[Any, Any]:
        return split_batch(batch, self.target_key, self.input_key)

    @torch.no_grad()
    def score(self, output: Any, targets: torch.Tensor) -> Score:
        logits, targets = _aligned(output, targets, self.shift)
        keep = targets != self.ignore_index
        if not bool(keep.all()):
            logits, targets = logits[keep], targets[keep]
        if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= logits.shape[-1]):
            raise BitrobustError(f"targets outside the vocabulary [0, {logits.shape[-1]}) (other than "
                                 f"ignore_index {self.ignore_index})")
        base = Classification(ignore_index=self.ignore_index).score(logits, targets)  # error and confidence
        logits = logits.float()
        finite = torch.isfinite(logits).all(dim=1)
        nll = F.cross_entropy(torch.where(finite[:, None], logits, torch.zeros_like(logits)), targets, reduction="none")
        nll = torch.where(finite, nll, torch.full_like(nll, float("inf")))
        return replace(base, nll=float(nll.double().sum()))
