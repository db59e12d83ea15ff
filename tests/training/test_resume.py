"""A run interrupted mid-epoch and resumed ends with exactly the weights of an uninterrupted run.

The interruption is an exception raised from the strategy's ``train_step`` (as a crash
or Ctrl-C would) in the middle of epoch 2; the trainer saved its state after epoch 1,
and a new ``Trainer`` with the same config continues with ``fit(resume=True)``. Bit
errors are seeded from (seed, global step), shuffling from (seed, epoch), so the
repeated part of epoch 2 sees the same batches and errors again.
"""

from __future__ import annotations

import json

import pytest
import torch

from bitrobust.training import DataSection, ModelSection, StrategySection, TrainConfig, Trainer


class Interrupted(Exception):
    pass


def tiny_config(data_dir, name: str, params: dict) -> TrainConfig:
    return TrainConfig(
        model=ModelSection("cnn_small", {"channels": [4, 8]}),
        data=DataSection(name="mnist", data_dir=str(data_dir), train_subset=192, test_subset=100, batch_size=32,
                         test_batch_size=100),
        strategy=StrategySection(name=name, clip_w_max=0.1, params=params),
        epochs=3,
        seed=3,
        device="cpu",
    )


def interrupt_at(trainer: Trainer, at_step: int) -> None:
    original = trainer.strategy.train_step

    def train_step(x, y, step):
        if step == at_step:
            raise Interrupted(f"simulated crash at step {step}")
        return original(x, y, step)

    trainer.strategy.train_step = train_step


def metrics_without_time(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.mark.parametrize(
    "name, params",
    [
        ("normal", {}),
        ("randbet", {"p": 0.05, "loss_threshold": None, "perturbed_grad_max_value": 0.05}),
        ("alternating_randbet", {"p": 0.05, "loss_threshold": 2.25}),
        ("curricular_randbet", {"p": 0.05, "loss_threshold": None}),
    ],
)
def test_resumed_run_matches_uninterrupted(tmp_path, data_dir, name, params):
    config = tiny_config(data_dir, name, params)
    reference = Trainer(config, tmp_path / "reference", progress=False)
    reference.fit()

    run = tmp_path / "interrupted"
    first = Trainer(config, run, progress=False)
    steps_per_epoch = len(first.train_loader)  # 6
    interrupt_at(first, steps_per_epoch + 2)  # in the middle of epoch 2
    with pytest.raises(Interrupted):
        first.fit()
    assert json.loads((run / "trainer_state.json").read_text())["epoch"] == 1
    assert not torch.equal(first.model.classifier.weight, reference.model.classifier.weight)

    resumed = Trainer(config, run, progress=False)
    resumed.fit(resume=True)
    assert resumed.epoch == 3
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    ref_buffers = [reference.optimizer.state[p]["momentum_buffer"] for p in reference.model.parameters()]
    res_buffers = [resumed.optimizer.state[p]["momentum_buffer"] for p in resumed.model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(ref_buffers, res_buffers))
    assert metrics_without_time(run) == metrics_without_time(tmp_path / "reference")
