"""Robust training as a drop-in for a plain PyTorch loop (paper 3, Sec. 4-5; papers 1, 2).

Every strategy of :data:`~bitrobust.training.strategies.STRATEGIES` -- quantization-aware
training (``normal``), weight clipping (``clip_w_max``, Sec. 4.2), RandBET with its loss
threshold and its curricular and alternating variants (Sec. 4.3, Alg. 1; App. G.4),
PattBET (Sec. 5.3) and BNN flip training (paper 2, Sec. IV-B) -- works on any
``nn.Module`` with any optimizer, loss and batches: :class:`RobustTraining` wraps the
model and optimizer, and its :meth:`~RobustTraining.step` takes one batch through the
strategy's passes (clean and perturbed for RandBET), the combined optimizer update and
the projection after it (clipping, quantization ranges, latent BNN weights). It counts
the global steps itself, so the bit errors and flips of step t are seeded from
(seed, t) as in the :class:`~bitrobust.training.trainer.Trainer`, which trains through
this same class; ``state_dict`` / ``load_state_dict`` carry the counter for resuming.
The learning-rate schedule stays with the loop.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.device import model_device
from bitrobust.errors import BitrobustError
from bitrobust.training.config import QuantSection, StrategySection
from bitrobust.training.context import StepContext
from bitrobust.training.strategies import STRATEGIES, StepResult, Strategy


class RobustTraining:
    """One strategy's training steps on ``model`` with ``optimizer``, for a hand-written loop.

    ``strategy`` is a name in ``STRATEGIES`` (its params as keyword arguments, weight
    clipping as ``clip_w_max``), a :class:`StrategySection` or a built strategy.
    ``quant`` is the weights' storage format: a :class:`QuantSection`, a number of bits
    (RQUANT), a number format's name (``"int4_g128"``, ``"bf16"``: :mod:`bitrobust.formats`)
    or None (train in float; BNNs binarize themselves). ``seed`` seeds the
    bit errors and flips, ``total_steps`` is the run's length (curricular RandBET's ramp).

    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> robust = RobustTraining(model, torch.optim.SGD(model.parameters(), lr=0.1), "randbet",
    ...                         quant=8, clip_w_max=0.1, p=0.01, loss_threshold=None)
    >>> result = robust.step(torch.randn(16, 4), torch.randint(0, 2, (16,)))
    >>> result.n, robust.global_step, bool(model[0].weight.abs().max() <= 0.1)
    (16, 1, True)
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        strategy: str | StrategySection | Strategy = "normal",
        *,
        quant: QuantSection | int | str | None = 8,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
        seed: int = 0,
        total_steps: int = 1,
        clip_w_max: float | None = None,
        world_size: int = 1,
        device: torch.device | None = None,
        **params,
    ) -> None:
        if isinstance(strategy, str):
            strategy = StrategySection(strategy, clip_w_max=clip_w_max, params=params)
        elif params or clip_w_max is not None:
            raise BitrobustError("RobustTraining: give params and clip_w_max with a strategy name, not with a built one")
        if isinstance(strategy, StrategySection):
            strategy = STRATEGIES.get(strategy.name)(strategy)
        if isinstance(quant, int):
            quant = QuantSection(bits=quant)
        elif isinstance(quant, str):
            quant = QuantSection(format=quant)
        if device is None:
            device = model_device(model)
        self.context = StepContext(model, optimizer, loss_fn, quant, seed, total_steps, world_size, device)
        self.strategy = strategy
        strategy.setup(self.context)
        self.global_step = 0

    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        """Train on one batch: the strategy's gradients, the optimizer update, the projection."""
        ctx = self.context
        ctx.optimizer.zero_grad(set_to_none=True)
        result = self.strategy.train_step(x, y, self.global_step)
        ctx.update()
        self.strategy.after_step()
        self.global_step += 1
        return result

    def state_dict(self) -> dict:
        """The step counter and the strategy's state (JSON-serializable)."""
        return {"global_step": self.global_step, "strategy": self.strategy.state()}

    def load_state_dict(self, state: dict) -> None:
        self.global_step = int(state["global_step"])
        self.strategy.load_state(state.get("strategy", {}))
