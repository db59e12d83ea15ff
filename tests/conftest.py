import os
import socket
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from bitrobust.cli import main
from bitrobust.config import from_dict
from bitrobust.training import TrainConfig, Trainer

# The machine running the tests is small and shared: one intra-op thread avoids
# oversubscription (and makes CPU results deterministic).
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory with the canonical MNIST/Fashion-MNIST files, or skip."""
    env = os.environ.get("BITROBUST_DATA")
    for candidate in (Path(env) if env else None, SHARED_DATA):
        if candidate is not None and (candidate / "mnist").is_dir():
            return candidate
    pytest.skip("MNIST data not available (set BITROBUST_DATA)")


# -- binarized networks: MNIST subsets and small BNNs trained in about a second -------------


def train_bnn(arch: str, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int = 64, seed: int = 0):
    """A few hundred Adam steps (lr 1e-2) with latent-weight clipping; returned in eval mode."""
    import torch.nn.functional as F

    from bitrobust.models.bnn import build_bnn
    from bitrobust.nn.binary import clip_latent_weights

    model = build_bnn(arch, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        clip_latent_weights(model)
    return model.eval()


@pytest.fixture(scope="session")
def mnist_small(data_dir: Path):
    """4000 training and 1000 test images of MNIST (uint8) with labels."""
    from bitrobust.data import load_dataset

    train = load_dataset("mnist", "train", data_dir=data_dir, download=False, progress=False)
    test = load_dataset("mnist", "test", data_dir=data_dir, download=False, progress=False)
    return train.x[:4000], train.y[:4000], test.x[:1000], test.y[:1000]


@pytest.fixture(scope="session")
def trained_fc(mnist_small):
    xtr, ytr, _, _ = mnist_small
    return train_bnn("FC32-FC32-10", xtr, ytr, steps=150)


@pytest.fixture(scope="session")
def trained_cnn(mnist_small):
    xtr, ytr, _, _ = mnist_small
    return train_bnn("C6-MP2-C6-MP2-FC24-10", xtr, ytr, steps=60)


def _run_ranks(argv_of_rank, world: int = 2, timeout: float = 180) -> list[str]:
    """Start ``world`` processes as torchrun would (RANK, WORLD_SIZE, MASTER_ADDR/PORT, one thread each),
    ``argv_of_rank(rank)`` each; wait for all, kill stragglers, assert success; their outputs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([str(a) for a in argv_of_rank(rank)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, text in zip(procs, outputs):
        assert p.returncode == 0, text[-3000:]
    return outputs


@pytest.fixture
def run_ranks():
    """``run_ranks(argv_of_rank, world=2)``: a torchrun-like launch of local processes (gloo on the CPU)."""
    return _run_ranks


# -- tiny trained runs for the command line and the evaluation pipeline ----------------------------

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
