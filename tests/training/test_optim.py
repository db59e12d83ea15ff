"""Optimizers and learning-rate schedules are chosen by name from registries that list the valid names."""

from __future__ import annotations

import pytest
import torch

from bitrobust.config import from_dict
from bitrobust.errors import BitrobustError
from bitrobust.training import OPTIMIZERS, SCHEDULES, OptimSection, TrainConfig
from bitrobust.training.optim import build_optimizer


def test_registered_names():
    assert OPTIMIZERS.names() == ["adam", "sgd"]
    assert SCHEDULES.names() == ["constant", "every", "step"]


@pytest.mark.parametrize(
    "optim, message",
    [
        ({"name": "rmsprop"}, "unknown optimizer 'rmsprop'; valid: adam, sgd"),
        ({"schedule": "cosine"}, "unknown schedule 'cosine'; valid: constant, every, step"),
    ],
)
def test_unknown_names_fail_when_the_recipe_is_read(optim, message):
    with pytest.raises(BitrobustError, match=message):
        from_dict(TrainConfig, {"optim": optim})


def test_optimizers_take_the_section_settings():
    params = list(torch.nn.Linear(3, 2).parameters())
    sgd = build_optimizer(OptimSection(lr=0.1, momentum=0.9, weight_decay=1e-4), params)
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 1e-4
    assert not build_optimizer(OptimSection(momentum=0.0), params).defaults["nesterov"]  # Nesterov needs momentum
    adam = build_optimizer(OptimSection(name="adam", lr=1e-3, weight_decay=0.0), params)
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 1e-3


def test_schedules():
    assert [OptimSection(schedule="constant").lr_at(e, 10) for e in (0, 9)] == [0.05, 0.05]
    assert [OptimSection(schedule="every", every=2, gamma=0.5, lr=1.0).lr_at(e, 10) for e in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert OptimSection(milestones=(0.5,), gamma=0.1, lr=1.0).lr_at(4, 10) == 1.0
    assert OptimSection(milestones=(0.5,), gamma=0.1, lr=1.0).lr_at(5, 10) == pytest.approx(0.1)
