"""Training strategies: what one optimization step computes (paper 3, Sec. 4-5).

A strategy turns a batch into gradients on the float weights;
:class:`~bitrobust.training.robust.RobustTraining` (in the trainer or in a user's own
loop) then takes the optimizer step and calls ``after_step`` (e.g. weight clipping). A strategy
sees the model, loss and optimizer only through a
:class:`~bitrobust.training.context.StepContext`, never the trainer. ``normal`` is
quantization-aware training: the forward pass uses Q^-1(Q(w)) of the float weights w
with straight-through gradients (Alg. 1 without bit errors). Weight clipping
(CLIPPING_w_max, Sec. 4.2) is available to every strategy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import functional_call

from bitrobust.config import from_dict
from bitrobust.errors import BitrobustError
from bitrobust.quantization import fake_quantize_tensors
from bitrobust.registry import Registry
from bitrobust.tasks import logits_of
from bitrobust.training.config import StrategySection
from bitrobust.training.context import StepContext


@dataclass
class StepResult:
    loss: float
    correct: int
    n: int


def tally(output, y: torch.Tensor, ignore_index: int = -100) -> tuple[int, int]:
    """(right arg-max predictions, predictions) of logits ``[N, C]`` for ``[N]`` labels, or of a sequence
    model's ``[N, T, C]`` for ``[N, T]`` targets (targets ``ignore_index`` not counted).

    >>> tally(torch.tensor([[[0.0, 1.0], [1.0, 0.0]]]), torch.tensor([[1, -100]]))
    (1, 1)
    """
    logits = logits_of(output)
    if logits.dim() == 2:
        return int((logits.argmax(1) == y).sum()), len(y)
    keep = y != ignore_index
    return int(((logits.argmax(-1) == y) & keep).sum()), int(keep.sum())


def parse_params(cls: type, params: dict, strategy: str):
    """Validated settings ``cls`` from a recipe's ``strategy.params`` (one-line errors)."""
    if not isinstance(params, dict):
        raise BitrobustError(f"strategy.params of {strategy} must be a mapping, got {params!r}")
    return from_dict(cls, dict(params), "strategy.params")


class Strategy:
    """Base strategy: quantization-aware training with the context's loss (``normal``).

    Built from its recipe section (``Params``, a frozen dataclass, validates
    ``section.params``; None: the strategy takes none), then :meth:`setup` hands it the
    :class:`~bitrobust.training.context.StepContext` its steps use.

    >>> model = torch.nn.Linear(4, 2)
    >>> strategy = Strategy(StrategySection(clip_w_max=0.1))
    >>> strategy.setup(StepContext(model, torch.optim.SGD(model.parameters(), lr=0.1)))
    >>> strategy.train_step(torch.randn(8, 4), torch.zeros(8, dtype=torch.long), step=0).n
    8
    """

    Params: type | None = None

    def __init__(self, section: StrategySection) -> None:
        if self.Params is None and section.params:
            given = ", ".join(map(str, section.params))
            raise BitrobustError(f"strategy.params: the {section.name} strategy takes none, got {given}")
        self.section = section
        self.params = None if self.Params is None else parse_params(self.Params, section.params, section.name)

    def setup(self, ctx: StepContext) -> None:
        """Bind the context the steps use (strategies that need more check it here)."""
        self.ctx = ctx

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits with ``weights`` (default: the fake-quantized float weights) in place of the parameters."""
        model = self.ctx.model
        if weights is None:
            weights = self.quantized_weights()
        return functional_call(model, weights, (x,)) if weights else model(x)

    def quantized_weights(self) -> dict[str, torch.Tensor]:
        ctx = self.ctx
        if not ctx.fake_quantize:
            return {}
        params = dict(ctx.model.named_parameters())
        return fake_quantize_tensors({k: params[k] for k in ctx.quantized_names}, ctx.quantizer)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> StepResult:
        """Compute gradients for one batch (``.grad`` of the float parameters) at global ``step``."""
        logits = self.forward(x)
        loss = self.ctx.loss_fn(logits, y)
        loss.backward()
        return StepResult(float(loss.detach()), *tally(logits, y))

    @torch.no_grad()
    def after_step(self) -> None:
        """Weight clipping: w <- clamp(w, -w_max, w_max) for every parameter."""
        w_max = self.section.clip_w_max
        if w_max is not None:
            for p in self.ctx.model.parameters():
                p.clamp_(-w_max, w_max)

    def checkpoint_quant(self) -> dict | None:
        """The checkpoint's ``quant`` metadata: how evaluation stores the weights in memory.

        Default: the context's quant section (None without one). ``bitrobust eval`` builds
        its quantizer and exclude list from it.
        """
        qc = self.ctx.quant
        if qc is None:
            return None
        out = {"bits": qc.bits, "scheme": qc.scheme, "overrides": qc.overrides, "exclude": list(qc.exclude)}
        if qc.format is not None:  # the number format replaces bits/scheme (the format's width in bits)
            out.update(format=qc.format, bits=self.ctx.quantizer.bits)
        return out

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


def validate_strategy(section: StrategySection):
    """Check ``section.name`` is registered and its params are valid; the parsed params or None.

    >>> validate_strategy(StrategySection(name="normal")) is None
    True
    """
    return STRATEGIES.get(section.name)(section).params
