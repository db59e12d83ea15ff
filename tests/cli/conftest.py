import pytest

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
