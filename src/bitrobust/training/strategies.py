"""Training strategies: what one optimization step computes (paper 3, Sec. 4-5).

A strategy turns a batch into gradients on the float weights; the trainer then
takes the optimizer step and calls ``after_step`` (e.g. weight clipping). ``normal``
is quantization-aware training: the forward pass uses Q^-1(Q(w)) of the float
weights w with straight-through gradients (Alg. 1 without bit errors). Weight
clipping (CLIPPING_w_max, Sec. 4.2) is available to every strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch.func import functional_call

from bitrobust.quantization import fake_quantize_tensors
from bitrobust.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from bitrobust.training.trainer import Trainer


@dataclass
class StepResult:
    loss: float
    correct: int
    n: int


class Strategy:
    """Base strategy: quantization-aware training with cross-entropy (``normal``)."""

    def __init__(self, trainer: "Trainer") -> None:
        self.trainer = trainer
        self.config = trainer.config.strategy

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits with ``weights`` (default: the fake-quantized float weights) in place of the parameters."""
        t = self.trainer
        if weights is None:
            weights = self.quantized_weights()
        return functional_call(t.model, weights, (x,)) if weights else t.model(x)

    def quantized_weights(self) -> dict[str, torch.Tensor]:
        t = self.trainer
        if t.quantizer is None or not t.config.quant.during_training:
            return {}
        params = dict(t.model.named_parameters())
        return fake_quantize_tensors({k: params[k] for k in t.quantized_names}, t.quantizer)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> StepResult:
        """Compute gradients for one batch (``.grad`` of the float parameters)."""
        logits = self.forward(x)
        loss = self.loss(logits, y)
        loss.backward()
        return StepResult(float(loss.detach()), int((logits.argmax(1) == y).sum()), len(y))

    @torch.no_grad()
    def after_step(self) -> None:
        """Weight clipping: w <- clamp(w, -w_max, w_max) for every parameter."""
        w_max = self.config.clip_w_max
        if w_max is not None:
            for p in self.trainer.model.parameters():
                p.clamp_(-w_max, w_max)

    def checkpoint_quant(self) -> dict | None:
        """The checkpoint's ``quant`` metadata: how evaluation stores the weights in memory.

        Default: the config's quant section (None without one). ``bitrobust eval`` builds
        its quantizer and exclude list from it.
        """
        qc = self.trainer.config.quant
        if qc is None:
            return None
        return {"bits": qc.bits, "scheme": qc.scheme, "overrides": qc.overrides, "exclude": list(qc.exclude)}

    def metrics(self) -> dict:
        """Extra per-epoch metrics for ``metrics.jsonl``."""
        return {}

    def state(self) -> dict:
        """JSON-serializable state to checkpoint (for resuming exactly)."""
        return {}

    def load_state(self, state: dict) -> None:
        pass


STRATEGIES: Registry[type[Strategy]] = Registry("training strategy")
STRATEGIES.add("normal", Strategy)
