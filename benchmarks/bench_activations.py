"""Activation-fault overhead: a forward pass with transient bit errors in every conv/linear output vs a clean one.

For each model (registered CNNs, untrained, seed 0, eval mode, random inputs of the dataset's shape), the
outputs of all ``nn.Conv2d``/``nn.Linear`` modules are stored in activation buffers of ``--format``
(default int8: RQUANT fixed point, ranges calibrated on the timed batch) and read back with transient
bit errors at rate ``--p`` (default 1%) through :func:`bitrobust.injection.activation_faults` (contract 7).
Each repeat times, back to back and alternating which goes first, one clean forward pass, one faulty
one and one with the buffers at p = 0 (the format's round trip alone), all under ``torch.inference_mode``.
The table gives the median times and the medians of the paired ratios faulty / clean and
round trip / clean. Target (issue 12): faulty <= 1.3x clean at p = 1%. ``--clock cpu`` times the
process's CPU time (``time.process_time``) instead of wall time: on a machine shared with other jobs it
leaves out the time the process waits for a core, which otherwise dominates the spread of the ratios.

    python benchmarks/bench_activations.py [--models resnet20,simplenet_cifar,cnn_small] [--batch 128]
        [--p 0.01] [--format int8] [--repeats 7] [--threads 1] [--clock wall|cpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _machine import machine_info, save_results

from bitrobust.injection import activation_faults, calibrate_activations
from bitrobust.models import build_model

INPUT = {"cnn_small": (1, 28, 28), "simplenet_mnist": (1, 28, 28), "mlp": (1, 28, 28)}  # others: CIFAR


def conv_and_linear(model: torch.nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def forward_time(model: torch.nn.Module, x: torch.Tensor, clock=time.perf_counter) -> float:
    start = clock()
    with torch.inference_mode():
        model(x)
    return clock() - start


def bench(name: str, args: argparse.Namespace) -> dict:
    model = build_model(name, seed=0).eval()
    x = torch.randn(args.batch, *INPUT.get(name, (3, 32, 32)), generator=torch.Generator().manual_seed(0))
    modules = conv_and_linear(model)
    calibration = calibrate_activations(model, [(x, None)], modules)
    elements = 0

    def count(module, inputs, output):
        nonlocal elements
        elements += output.numel()

    handles = [dict(model.named_modules())[n].register_forward_hook(count) for n in modules]
    forward_time(model, x)  # warm-up, and the number of buffered elements
    for h in handles:
        h.remove()
    times: dict[str, list[float]] = {"clean": [], "faulty": [], "round trip": []}
    clock = CLOCKS[args.clock]
    for r in range(args.repeats):
        order = ["clean", "faulty", "round trip"] if r % 2 == 0 else ["round trip", "faulty", "clean"]
        for what in order:
            if what == "clean":
                times[what].append(forward_time(model, x, clock))
                continue
            p = args.p if what == "faulty" else 0.0
            with activation_faults(model, modules, p, format=args.format, calibration=calibration, seed=r):
                times[what].append(forward_time(model, x, clock))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = statistics.median(f / c for f, c in zip(times["faulty"], times["clean"]))
    round_trip = statistics.median(f / c for f, c in zip(times["round trip"], times["clean"]))
    return {"model": name, "modules": len(modules), "elements": elements, "clean_s": med["clean"],
            "faulty_s": med["faulty"], "round_trip_s": med["round trip"], "ratio": ratio,
            "round_trip_ratio": round_trip}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="resnet20,simplenet_cifar,cnn_small")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--p", type=float, default=0.01)
    parser.add_argument("--format", default="int8")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time (default) or the process's CPU time (less sensitive to a loaded machine)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = machine_info()
    print(machine)
    rows = [bench(name.strip(), args) for name in args.models.split(",") if name.strip()]
    print(f"\ntransient activation faults, p = {args.p:g}, {args.format} buffers of every conv/linear output, "
          f"batch {args.batch}, {args.repeats} repeats, {args.clock} clock\n")
    print("| model | buffered modules | elements / pass | clean (s) | faulty (s) | faulty / clean | "
          "round trip p=0 / clean |")
    print("|:---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['modules']} | {row['elements']:,} | {row['clean_s']:.3f} | "
              f"{row['faulty_s']:.3f} | {row['ratio']:.2f} | {row['round_trip_ratio']:.2f} |")
    if args.json:
        save_results(args.json, "activations", args, machine, rows=rows)


if __name__ == "__main__":
    main()
