"""RandBET with activation faults: the perturbed pass reads chosen modules' outputs from faulty buffers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.training import RobustTraining


def _train(steps: int = 6, **params):
    with torch.random.fork_rng():  # the model's initialization only; the bit errors have their own seeds
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    robust = RobustTraining(model, torch.optim.SGD(model.parameters(), lr=0.1), "randbet", quant=8, seed=5,
                            loss_threshold=None, **{"p": 0.01, **params})
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        robust.step(torch.randn(32, 6, generator=g), torch.randint(0, 3, (32,), generator=g))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, robust


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("fmt", ["int8", "int4"])
def test_activation_faults_change_training_reproducibly(fmt):
    plain, _ = _train()
    faulty, robust = _train(activations="0", activation_p=0.05, activation_format=fmt)
    again, _ = _train(activations="0", activation_p=0.05, activation_format=fmt)
    assert not _same(plain, faulty) and _same(faulty, again)  # seeded from (seed, step)
    assert robust.strategy.metrics()["perturbed_fraction"] == 1.0
    assert not any(m._forward_hooks for m in robust.context.model.modules())  # hooks only inside the pass


def test_activation_faults_alone_train_with_a_perturbed_pass():
    clean, robust_clean = _train(p=0.0)
    faulty, robust = _train(p=0.0, activations="0,2", activation_p=0.05)
    assert robust_clean.strategy.metrics()["perturbed_fraction"] == 0.0
    assert robust.strategy.metrics()["perturbed_fraction"] == 1.0 and not _same(clean, faulty)
    zero, _ = _train(p=0.0, activations="0", activation_p=0.0)
    assert _same(clean, zero)


def test_activation_options_are_checked():
    with pytest.raises(BitrobustError, match="matches no module"):
        _train(steps=0, activations="features.*")
    with pytest.raises(BitrobustError, match="activation format"):
        _train(steps=0, activations="0", activation_format="int9")
    with pytest.raises(BitrobustError, match="activation_p"):
        _train(steps=0, activations="0", activation_p=2.0)
