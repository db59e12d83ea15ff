"""``torchrun --nproc_per_node=2 -m bitrobust eval``: the chips are split across the ranks, rank 0
alone writes, and the result equals one process's exactly (2 gloo processes on the CPU)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from bitrobust.cli import main

FLAGS = ["--rates", "0.01,0.05", "--chips", "4", "--test-subset", "100", "--no-progress", "--device", "cpu"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_split_the_chips_and_rank_0_writes(tmp_path, tiny_run, data_dir):
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        argv = [sys.executable, "-m", "bitrobust", "eval", str(tiny_run), *FLAGS, "--data-dir", str(data_dir),
                "--out", str(tmp_path / f"rank{rank}")]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=180)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, text in zip(procs, outputs):
        assert p.returncode == 0, text[-3000:]
    assert not (tmp_path / "rank1").exists() and outputs[1] == ""  # rank 1 writes and prints nothing
    assert main(["eval", str(tiny_run), *FLAGS, "--data-dir", str(data_dir), "--out", str(tmp_path / "single")]) == 0
    two = json.loads((tmp_path / "rank0" / "robustness.json").read_text())
    one = json.loads((tmp_path / "single" / "robustness.json").read_text())
    assert two == one and len(one["rates"][0]["rerr"]) == 4
