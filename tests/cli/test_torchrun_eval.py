"""``torchrun --nproc_per_node=2 -m bitrobust eval``: the chips are split across the ranks, rank 0
alone writes, and the result equals one process's exactly (2 gloo processes on the CPU)."""

from __future__ import annotations

import json
import sys

from bitrobust.cli import main

FLAGS = ["--rates", "0.01,0.05", "--chips", "4", "--test-subset", "100", "--no-progress", "--device", "cpu"]


def test_two_ranks_split_the_chips_and_rank_0_writes(tmp_path, tiny_run, data_dir, run_ranks):
    outputs = run_ranks(lambda rank: [sys.executable, "-m", "bitrobust", "eval", tiny_run, *FLAGS, "--data-dir", data_dir,
                                      "--out", tmp_path / f"rank{rank}"])
    assert not (tmp_path / "rank1").exists() and outputs[1] == ""  # rank 1 writes and prints nothing
    assert main(["eval", str(tiny_run), *FLAGS, "--data-dir", str(data_dir), "--out", str(tmp_path / "single")]) == 0
    two = json.loads((tmp_path / "rank0" / "robustness.json").read_text())
    one = json.loads((tmp_path / "single" / "robustness.json").read_text())
    assert two == one and len(one["rates"][0]["rerr"]) == 4
