"""The drop-in API (:class:`bitrobust.RobustTraining`) in hand-written loops.

The Trainer trains through the same object, so a plain loop over the same batches ends
with bit-identical weights; and RandBET hardens a model the project never saw.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from bitrobust import RobustTraining
from bitrobust.config import from_dict
from bitrobust.data import Loader, load_dataset
from bitrobust.models import build_model
from bitrobust.training import TrainConfig, Trainer
from bitrobust.training.optim import build_optimizer

CNN = {"model": {"name": "cnn_small", "kwargs": {"channels": [4, 8]}},
       "optim": {"lr": 0.05}}
BNN = {"model": {"name": "bnn", "kwargs": {"arch": "FC16-FC16-10"}}, "quant": None,
       "data": {"raw": True, "normalize": False}, "optim": {"name": "adam", "lr": 1e-2, "weight_decay": 0.0}}
STRATEGIES = {
    "normal": (CNN, {}),
    "clipping": (CNN, {"clip_w_max": 0.1}),
    "randbet": (CNN, {"name": "randbet", "clip_w_max": 0.1, "params": {"p": 0.01, "loss_threshold": 2.6}}),
    "curricular_randbet": (CNN, {"name": "curricular_randbet", "params": {"p": 0.02, "loss_threshold": None}}),
    "alternating_randbet": (CNN, {"name": "alternating_randbet", "params": {"p": 0.02, "loss_threshold": None}}),
    "bnn_flips": (BNN, {"name": "bnn", "params": {"p": 0.1}}),
}


def config(data_dir, base: dict, strategy: dict) -> TrainConfig:
    data = {"train_subset": 300, "test_subset": 100, "batch_size": 50, "data_dir": str(data_dir), **base.get("data", {})}
    return from_dict(TrainConfig, {**base, "data": data, "strategy": strategy, "epochs": 1, "max_steps": 5,
                                   "seed": 4, "device": "cpu"})


def hand_written_loop(cfg: TrainConfig) -> tuple[RobustTraining, list[float]]:
    """What a user writes: data, model, optimizer, and one ``robust.step`` per batch."""
    dc = cfg.data
    train = load_dataset(dc.name, "train", data_dir=dc.data_dir).subset(dc.train_subset, seed=cfg.seed)
    loader = Loader(train, batch_size=dc.batch_size, shuffle=True, seed=cfg.seed, normalize=dc.normalize, raw=dc.raw)
    loader.set_epoch(0)
    model = build_model(cfg.model.name, seed=cfg.seed, num_classes=10, in_channels=1, **cfg.model.kwargs)
    optimizer = build_optimizer(cfg.optim, model.parameters())
    robust = RobustTraining(model, optimizer, cfg.strategy, quant=cfg.quant, seed=cfg.seed, total_steps=cfg.max_steps)
    model.train()
    losses = []
    for step, (x, y) in enumerate(loader):
        if step == cfg.max_steps:
            break
        losses.append(robust.step(x, y).loss)
    return robust, losses


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_hand_written_loop_matches_the_trainer_bit_for_bit(tmp_path, data_dir, name):
    cfg = config(data_dir, *STRATEGIES[name])
    trainer = Trainer(cfg, tmp_path, progress=False)
    metrics = trainer.fit()
    robust, losses = hand_written_loop(cfg)
    model = robust.context.model
    if name == "randbet":  # the loss threshold let some batches through and held others back
        assert 0 < metrics["perturbed_fraction"] < 1
    assert metrics["train_loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-12)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_state_dict_resumes_the_same_bit_errors(data_dir):
    cfg = config(data_dir, CNN, {"name": "randbet", "params": {"p": 0.02, "loss_threshold": None}})
    whole, _ = hand_written_loop(cfg)
    first, _ = hand_written_loop(dataclasses.replace(cfg, max_steps=3))
    # resume: a new model, optimizer and RobustTraining from the saved states, then the remaining batches
    dc = cfg.data
    train = load_dataset(dc.name, "train", data_dir=dc.data_dir).subset(dc.train_subset, seed=cfg.seed)
    loader = Loader(train, batch_size=dc.batch_size, shuffle=True, seed=cfg.seed, normalize=dc.normalize)
    loader.set_epoch(0)
    model = build_model(cfg.model.name, seed=99, num_classes=10, in_channels=1, **cfg.model.kwargs)
    model.load_state_dict(first.context.model.state_dict())
    optimizer = build_optimizer(cfg.optim, model.parameters())
    optimizer.load_state_dict(first.context.optimizer.state_dict())
    robust = RobustTraining(model, optimizer, cfg.strategy, quant=cfg.quant, seed=cfg.seed, total_steps=cfg.max_steps)
    robust.load_state_dict(first.state_dict())
    model.train()
    for step, (x, y) in enumerate(loader):
        if 3 <= step < cfg.max_steps:
            robust.step(x, y)
    assert robust.global_step == whole.global_step == cfg.max_steps
    for key, value in whole.context.model.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key
