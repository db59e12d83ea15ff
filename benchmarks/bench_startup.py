"""Time to first result: start-up of every ``bitrobust ... --help`` and the quickstart's wall time.

Targets (issue 10): every ``--help`` starts in at most 0.5 s (torch is imported only when a
command runs), and ``bitrobust quickstart`` (train cnn_small for two epochs on MNIST, then RErr
on 10 chips x 5 rates) finishes in at most 5 minutes of wall time on the project's 2-core
machine, after installation and with the data present.

    python benchmarks/bench_startup.py                    # --help start-up only (seconds)
    python benchmarks/bench_startup.py --quickstart       # also a fresh quickstart run (minutes)
    python benchmarks/bench_startup.py --quickstart --json results/startup.json
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine_info, save_results

COMMANDS = [[], ["data"], ["recipes"], ["train"], ["eval"], ["metrics"], ["report"], ["energy"], ["reproduce"],
            ["quickstart"]]


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bitrobust", *argv], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per --help (median reported)")
    parser.add_argument("--quickstart", action="store_true", help="also time a fresh `bitrobust quickstart`")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    args = parser.parse_args()
    machine = machine_info()
    print(f"machine: {machine}")
    helps = {}
    for cmd in COMMANDS:
        times = [wall([*cmd, "--help"]) for _ in range(args.repeats)]
        helps[" ".join(["bitrobust", *cmd, "--help"])] = statistics.median(times)
    width = max(map(len, helps))
    for name, seconds in helps.items():
        print(f"{name.ljust(width)}  {seconds:.2f} s{'' if seconds <= 0.5 else '  (over the 0.5 s target)'}")
    quickstart = None
    if args.quickstart:
        with tempfile.TemporaryDirectory() as tmp:
            quickstart = wall(["quickstart", "--out", str(Path(tmp) / "qs"), "--no-progress"])
        print(f"bitrobust quickstart (fresh)  {quickstart / 60:.1f} min{'' if quickstart <= 300 else '  (over 5 min)'}")
    if args.json:
        save_results(args.json, "startup", args, machine, help_seconds=helps, quickstart_seconds=quickstart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
