"""Evaluation batch size on the CPU: time per 10,000 images of a forward pass, batch 1000 vs smaller batches.

An evaluation pass (``evaluate_robustness``: a clean pass, then one per chip and rate) is a forward pass over
the test set in batches. On a CPU the activations of a large batch do not fit in the caches (``cnn_small``:
32 x 28 x 28 floats per image after its first convolution, 100 MB for 1,000 images), so smaller batches are
faster per image -- and a forward pass in eval mode computes each image on its own, so the outputs must be
bit-identical, which this benchmark checks (``identical``: logits equal to batch 1000's, exactly).

For each model (registered, untrained, seed 0, eval mode, random inputs of its dataset's shape) each repeat
times one pass over ``--images`` images at every batch size, interleaved and in a rotating order, under
``torch.inference_mode``. The table gives the median seconds per 10,000 images and the median paired ratio to
batch 1000. ``--clock cpu`` times the process's CPU time (``time.process_time``): on a shared machine it leaves
out the time spent waiting for a core.

    python benchmarks/bench_eval_batch.py [--models cnn_small,simplenet_mnist,resnet20] [--batches 1000,256,128,64,32]
        [--images 1000] [--repeats 5] [--threads 1] [--clock wall|cpu] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from _machine import machine_info, save_results
from bench_activations import CLOCKS, INPUT  # input shapes per model, wall / CPU clocks

from bitrobust.models import build_model


def one_pass(model: torch.nn.Module, x: torch.Tensor, batch: int, clock) -> tuple[float, torch.Tensor]:
    start = clock()
    with torch.inference_mode():
        out = torch.cat([model(x[i: i + batch]) for i in range(0, len(x), batch)])
    return clock() - start, out


def bench(name: str, args: argparse.Namespace) -> list[dict]:
    model = build_model(name, seed=0).eval()
    x = torch.randn(args.images, *INPUT.get(name, (3, 32, 32)), generator=torch.Generator().manual_seed(0))
    clock = CLOCKS[args.clock]
    _, reference = one_pass(model, x, args.batches[0], clock)  # warm-up, and the outputs to compare with
    times: dict[int, list[float]] = {b: [] for b in args.batches}
    identical = {b: True for b in args.batches}
    for r in range(args.repeats):
        order = args.batches[r % len(args.batches):] + args.batches[: r % len(args.batches)]
        for b in order:
            seconds, out = one_pass(model, x, b, clock)
            times[b].append(seconds * 10000 / args.images)
            identical[b] &= torch.equal(out, reference)
    base = times[args.batches[0]]
    return [{"model": name, "batch": b, "seconds_per_10k": statistics.median(times[b]),
             "ratio": statistics.median(t / t0 for t, t0 in zip(times[b], base)), "identical": identical[b]}
            for b in args.batches]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="cnn_small,simplenet_mnist,resnet20")
    parser.add_argument("--batches", default="1000,256,128,64,32",
                        help="batch sizes, the first is the reference (default 1000,256,128,64,32)")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--json", type=Path, help="also save the results as JSON")
    args = parser.parse_args()
    args.batches = [int(b) for b in args.batches.split(",")]
    torch.set_num_threads(args.threads)
    machine = machine_info()
    print(f"{machine['cpu']}, {args.threads} thread(s), torch {machine['torch']}, {args.images} images, "
          f"{args.repeats} repeats, {args.clock} clock\n")
    print("| model | batch | s per 10k images | / batch " + str(args.batches[0]) + " | outputs identical |")
    print("|:---|---:|---:|---:|:---|")
    rows = []
    for name in args.models.split(","):
        for row in bench(name, args):
            rows.append(row)
            print(f"| {row['model']} | {row['batch']} | {row['seconds_per_10k']:.1f} | {row['ratio']:.2f} | "
                  f"{'yes' if row['identical'] else 'NO'} |", flush=True)
    if args.json:
        save_results(args.json, "eval_batch", args, machine, rows=rows)


if __name__ == "__main__":
    main()
