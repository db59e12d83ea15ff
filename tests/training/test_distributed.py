"""Data parallelism with 2 gloo processes matches one process.

The test launches this file twice as a script with the environment torchrun would set
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; the ``run_ranks`` fixture).
Each rank trains on its half of every batch and the trainer all-reduces gradients, so
the final weights must equal a one-process run up to float rounding; RandBET's loss
threshold decision and perturbed-gradient clamp use all-rank means, and both ranks draw
the same bit errors. Then ``evaluate_robustness`` shards the chips across the ranks and
gathers them: its result must equal the one-process result exactly.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from bitrobust.data import Loader, load_dataset
from bitrobust.evaluation.robustness import evaluate_robustness
from bitrobust.models import build_model
from bitrobust.quantization import FixedPointQuantizer
from bitrobust.training import DataSection, ModelSection, StrategySection, TrainConfig, Trainer

RATES = (0.01, 0.05)
CHIPS = 5


def make_config(data_dir: str) -> TrainConfig:
    return TrainConfig(
        # An MLP: CPU conv backward sums differently for batch 16 and 32 (~1e-4 relative), and
        # quantization rounding amplifies that over steps; linear layers agree to ~1e-8.
        model=ModelSection("mlp", {"hidden": [32, 32]}),
        data=DataSection(name="mnist", data_dir=data_dir, train_subset=192, test_subset=100, batch_size=32,
                         test_batch_size=100),
        strategy=StrategySection(
            name="randbet", clip_w_max=0.1,
            params={"p": 0.05, "loss_threshold": 2.25, "perturbed_grad_max_value": 0.01},
        ),
        epochs=2,
        seed=5,
        device="cpu",
    )


def robustness(data_dir: str) -> dict:
    """RErr of a fixed (untrained) model: chips sharded across ranks when distributed."""
    model = build_model("cnn_small", seed=11, channels=(4, 8))
    test = load_dataset("mnist", "test", data_dir=data_dir).subset(200, seed=0)
    loader = Loader(test, batch_size=100, normalize=True)
    return evaluate_robustness(model, loader, FixedPointQuantizer(8, "rquant"), RATES, CHIPS).to_dict()


def worker(data_dir: str, run_dir: str, out: str) -> None:
    """One rank, started with the environment torchrun sets (RANK, WORLD_SIZE, MASTER_ADDR/PORT)."""
    torch.set_num_threads(1)
    trainer = Trainer(make_config(data_dir), run_dir, progress=False)
    trainer.fit()
    result = robustness(data_dir)
    torch.save({"state": trainer.model.state_dict(), "eval": result}, out)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def test_two_gloo_ranks_match_one_process(tmp_path, data_dir, run_ranks):
    run_ranks(lambda rank: [sys.executable, __file__, "--data-dir", data_dir, "--run-dir", tmp_path / "ddp",
                            "--out", tmp_path / f"rank{rank}.pt"])

    single = Trainer(make_config(str(data_dir)), tmp_path / "single", progress=False)
    single.fit()
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for key, value in single.model.state_dict().items():
        assert torch.equal(ranks[0]["state"][key], ranks[1]["state"][key]), key  # ranks agree exactly
        torch.testing.assert_close(ranks[0]["state"][key], value, rtol=1e-5, atol=1e-6, msg=key)

    def metrics(run):
        return [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]

    for a, b in zip(metrics("ddp"), metrics("single")):
        assert a["perturbed_fraction"] == b["perturbed_fraction"]  # same loss threshold decisions
        assert a["test_error"] == b["test_error"]
    assert 0 < metrics("single")[0]["perturbed_fraction"] < 1  # both regimes of the threshold occur

    expected = robustness(str(data_dir))
    assert ranks[0]["eval"] == expected and ranks[1]["eval"] == expected


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--data-dir", "--run-dir", "--out"):
        parser.add_argument(flag, required=True)
    a = parser.parse_args()
    worker(a.data_dir, a.run_dir, a.out)
