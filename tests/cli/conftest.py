import pytest
import yaml

from bitrobust.cli import main
from bitrobust.config import from_dict
from bitrobust.training import TrainConfig, Trainer

TINY = {
    "model": {"name": "cnn_small", "kwargs": {"channels": [4, 8]}},
    "data": {"train_subset": 500, "test_subset": 200, "batch_size": 50},
    "epochs": 1,
    "max_steps": 4,
}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("tiny_run")
    config = from_dict(TrainConfig, {**TINY, "data": {**TINY["data"], "data_dir": str(data_dir)}})
    Trainer(config, run, progress=False).fit()
    return run


# A small flip-trained BNN on raw Fashion-MNIST pixels (papers 1, 2), trained in about a second.
BNN_RECIPE = {
    "model": {"name": "bnn", "kwargs": {"arch": "C4-MP2-FC16-10"}},
    "data": {"name": "fashion_mnist", "raw": True, "normalize": False, "train_subset": 256, "test_subset": 100,
             "batch_size": 32, "test_batch_size": 100},
    "quant": None,
    "optim": {"name": "adam", "lr": 0.01, "weight_decay": 0.0, "schedule": "every", "every": 25, "gamma": 0.5},
    "strategy": {"name": "bnn", "params": {"p": 0.05, "mode": "straight_through"}},
    "epochs": 1,
    "max_steps": 5,
    "device": "cpu",
}


@pytest.fixture(scope="session")
def bnn_run(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("bnn_cli")
    recipe = root / "tiny_bnn.yaml"
    recipe.write_text(yaml.safe_dump(BNN_RECIPE))
    run = root / "run"
    assert main(["train", str(recipe), "--out", str(run), "--data-dir", str(data_dir), "--no-progress"]) == 0
    return run
