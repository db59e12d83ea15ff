"""A run killed (SIGKILL) at any stage of a checkpoint write resumes to the weights of an uninterrupted run.

The test launches this file as a script; it imports bitrobust once and forks one training
process per stage (so that 10 runs cost seconds, not 10 interpreter starts). Each trains a
tiny MLP for 3 epochs with :func:`bitrobust.io.atomic_path` (the one writer every file of a
run directory goes through) wrapped so that the process kills itself by its pid during
epoch 2's checkpoint, either when the temporary of one file is written but not yet renamed
into place (``NAME:written``) or right after the rename (``NAME:renamed``); the script
reports how each process ended. A killed directory must still load with ``load_checkpoint``
(what ``bitrobust eval`` reads), and its ``trainer_state.json`` may claim an epoch only once
the model of that epoch is in place. Resumed with ``fit(resume=True)``, it must end with the
weights and optimizer state of an uninterrupted run bit for bit, one ``metrics.jsonl`` line
per epoch with the same values (but the timings), and no temporaries.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bitrobust import io
from bitrobust.errors import BitrobustError
from bitrobust.io import load_tensors_file, read_json, save_tensors
from bitrobust.models.checkpoint import load_checkpoint
from bitrobust.training import DataSection, ModelSection, StrategySection, TrainConfig, Trainer

FILES = ("trainer_state.safetensors", "model.safetensors", "model.json", "metrics.jsonl", "trainer_state.json")
STAGES = tuple(f"{name}:{when}" for name in FILES for when in ("written", "renamed"))
KILLED_EPOCH = 2


def make_config(data_dir: str) -> TrainConfig:
    return TrainConfig(
        model=ModelSection("mlp", {"hidden": [16]}),
        data=DataSection(name="mnist", data_dir=data_dir, train_subset=200, test_subset=100, batch_size=50,
                         test_batch_size=100),
        strategy=StrategySection(name="randbet", clip_w_max=0.1, params={"p": 0.05, "loss_threshold": None}),
        epochs=3,
        seed=7,
        device="cpu",
    )


def killed_run(stage: str, config: TrainConfig, run_dir: Path) -> None:
    """Train, killing this process at ``stage`` of epoch 2's checkpoint write."""
    name, when = stage.split(":")
    trainer = Trainer(config, run_dir, progress=False)
    atomic_path = io.atomic_path

    @contextlib.contextmanager
    def killing_atomic_path(path):
        hit = Path(path).name == name and trainer.epoch == KILLED_EPOCH
        with atomic_path(path) as tmp:
            yield tmp
            if hit and when == "written":
                os.kill(os.getpid(), signal.SIGKILL)
        if hit and when == "renamed":
            os.kill(os.getpid(), signal.SIGKILL)

    io.atomic_path = killing_atomic_path
    trainer.fit()


def kill_at_every_stage(data_dir: str, out: Path) -> dict[str, int]:
    """Train into ``out/<i>`` in one forked process per stage i; how each ended (os.waitstatus_to_exitcode)."""
    torch.set_num_threads(1)  # as tests/conftest.py: the same arithmetic as the test process
    config = make_config(data_dir)
    Trainer(config, out / "unused", progress=False)  # warm up (imports, first reads) once, before forking
    pids = {}
    for i, stage in enumerate(STAGES):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                killed_run(stage, config, out / str(i))
                code = 0  # not killed: the test fails
            finally:
                os._exit(code)
        pids[stage] = pid
    return {stage: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for stage, pid in pids.items()}


def metrics_without_time(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks and SIGKILLs training processes (POSIX)")
def test_kill_at_every_stage_of_a_checkpoint_then_resume(tmp_path, data_dir):
    script = subprocess.run(
        [sys.executable, __file__, "--data-dir", str(data_dir), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert script.returncode == 0, script.stderr[-3000:]
    endings = json.loads(script.stdout.splitlines()[-1])
    assert endings == {stage: -signal.SIGKILL for stage in STAGES}, script.stderr[-3000:]

    config = make_config(str(data_dir))
    reference = Trainer(config, tmp_path / "reference", progress=False)
    reference.fit()
    expected = load_tensors_file(tmp_path / "reference" / "trainer_state.safetensors")
    expected_metrics = metrics_without_time(tmp_path / "reference")
    assert [row["epoch"] for row in expected_metrics] == [1, 2, 3]

    for i, stage in enumerate(STAGES):
        run = tmp_path / str(i)
        # killed: still a checkpoint `bitrobust eval` loads, and an epoch claimed only once its model is there
        _, meta = load_checkpoint(run)
        claimed = read_json(run / "trainer_state.json")["epoch"]
        assert claimed in (1, 2) and meta["epochs_done"] >= claimed, stage

        resumed = Trainer(config, run, progress=False)
        resumed.fit(resume=True)
        assert resumed.epoch == 3, stage
        state = load_tensors_file(run / "trainer_state.safetensors")
        assert state.keys() == expected.keys(), stage
        for key, value in expected.items():
            assert torch.equal(state[key], value), f"{stage}: {key}"
        model, meta = load_checkpoint(run)
        for key, value in reference.model.state_dict().items():
            assert torch.equal(model.state_dict()[key], value), f"{stage}: {key}"
        assert meta["epochs_done"] == 3 and read_json(run / "trainer_state.json")["epoch"] == 3, stage
        assert metrics_without_time(run) == expected_metrics, stage
        assert not list(run.glob(".*.tmp")), stage


def test_resume_rewrites_the_files_from_the_commit_record(tmp_path, data_dir):
    config = make_config(str(data_dir))
    Trainer(config, tmp_path, progress=False).fit()
    model_before = (tmp_path / "model.safetensors").read_bytes()
    lines = (tmp_path / "metrics.jsonl").read_text()
    (tmp_path / "metrics.jsonl").write_text(lines + lines.splitlines(keepends=True)[-1])  # a duplicate line
    for name in ("model.safetensors", "model.json", "trainer_state.json"):
        (tmp_path / name).unlink()
    (tmp_path / ".robustness.json.x1y2.tmp").write_text("another writer's temporary")
    assert Trainer(config, tmp_path, progress=False).fit(resume=True) == {}  # nothing left to train
    assert (tmp_path / "metrics.jsonl").read_text() == lines
    assert (tmp_path / "model.safetensors").read_bytes() == model_before
    assert load_checkpoint(tmp_path)[1]["epochs_done"] == 3 == read_json(tmp_path / "trainer_state.json")["epoch"]
    assert (tmp_path / ".robustness.json.x1y2.tmp").exists()  # not a file of the trainer's

    save_tensors(tmp_path / "trainer_state.safetensors", load_tensors_file(tmp_path / "trainer_state.safetensors"))
    with pytest.raises(BitrobustError, match="no commit record"):  # the layout before commit records
        Trainer(config, tmp_path, progress=False).fit(resume=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--data-dir", "--out"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    print(json.dumps(kill_at_every_stage(args.data_dir, Path(args.out))))
