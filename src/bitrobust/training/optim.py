"""The optimizer and its learning-rate schedule, both chosen by name (paper 3, App. F; papers 1, 2, Sec. V-A).

``optim.name`` picks an optimizer from :data:`OPTIMIZERS` and ``optim.schedule`` a
learning-rate schedule from :data:`SCHEDULES`; unknown names fail when the section is
built, listing the valid ones. The defaults are paper 3's (App. F): SGD with Nesterov
momentum 0.9, weight decay 5e-4, learning rate 0.05 multiplied by 0.1 after 2/5, 3/5
and 4/5 of the epochs. The BNN recipes (papers 1, 2) use Adam with the rate halved
every 25 epochs (``every``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from bitrobust.config import check_range
from bitrobust.registry import Registry

#: ``factory(parameters, section) -> torch.optim.Optimizer``
OPTIMIZERS: Registry[Callable[[Iterable[torch.nn.Parameter], "OptimSection"], torch.optim.Optimizer]] = Registry("optimizer")
#: ``schedule(section, epoch, epochs) -> learning rate`` of (0-based) ``epoch`` out of ``epochs``
SCHEDULES: Registry[Callable[["OptimSection", int, int], float]] = Registry("schedule")


@dataclass(frozen=True)
class OptimSection:
    """Optimizer and schedule settings (the ``optim`` section of a recipe).

    >>> OptimSection(schedule="every", every=25, gamma=0.5, lr=1e-3).lr_at(50, 100)
    0.00025
    >>> OptimSection(name="rmsprop")
    Traceback (most recent call last):
    bitrobust.errors.BitrobustError: unknown optimizer 'rmsprop'; valid: adam, sgd
    """

    name: str = "sgd"  # a name in OPTIMIZERS
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "step"  # step: x gamma at fractions `milestones`; every: x gamma every `every` epochs; constant
    milestones: tuple[float, ...] = (0.4, 0.6, 0.8)
    gamma: float = 0.1
    every: int = 25

    def __post_init__(self) -> None:
        OPTIMIZERS.get(self.name)
        SCHEDULES.get(self.schedule)
        for name in ("lr", "momentum", "weight_decay"):
            check_range(f"optim.{name}", getattr(self, name), low=0.0)
        check_range("optim.gamma", self.gamma, low=0.0, low_open=True)
        check_range("optim.every", self.every, low=1)
        for m in self.milestones:
            check_range("optim.milestones", m, low=0.0, high=1.0)

    def lr_at(self, epoch: int, epochs: int) -> float:
        """Learning rate of (0-based) ``epoch`` out of ``epochs``."""
        return SCHEDULES.get(self.schedule)(self, epoch, epochs)


def build_optimizer(section: OptimSection, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``section.name`` over ``parameters``.

    >>> build_optimizer(OptimSection(name="adam", lr=1e-3), torch.nn.Linear(2, 1).parameters()).defaults["lr"]
    0.001
    """
    return OPTIMIZERS.get(section.name)(parameters, section)


@OPTIMIZERS.register("sgd")
def sgd(parameters: Iterable[torch.nn.Parameter], o: OptimSection) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum and weight decay; Nesterov needs momentum > 0."""
    return torch.optim.SGD(
        parameters, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0, weight_decay=o.weight_decay
    )


@OPTIMIZERS.register("adam")
def adam(parameters: Iterable[torch.nn.Parameter], o: OptimSection) -> torch.optim.Optimizer:
    """Adam with weight decay (momentum and nesterov are ignored)."""
    return torch.optim.Adam(parameters, lr=o.lr, weight_decay=o.weight_decay)


@SCHEDULES.register("constant")
def constant_lr(o: OptimSection, epoch: int, epochs: int) -> float:
    """lr in every epoch."""
    return o.lr


@SCHEDULES.register("step")
def step_lr(o: OptimSection, epoch: int, epochs: int) -> float:
    """lr * gamma^k, k = milestones passed; milestone m passes once a fraction m of the epochs is done."""
    passed = sum(epoch >= m * epochs - 1e-9 for m in o.milestones)
    return o.lr * o.gamma**passed


@SCHEDULES.register("every")
def every_lr(o: OptimSection, epoch: int, epochs: int) -> float:
    """lr * gamma^(epoch // every)."""
    return o.lr * o.gamma ** (epoch // o.every)
