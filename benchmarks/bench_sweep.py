"""Sweep overhead: a full ``evaluate_robustness`` sweep vs the same number of clean forward passes.

Contract 3 says one forward pass per (chip, p) over the test set is the floor of a
robustness sweep and injection plus bookkeeping should add little. This benchmark
times a real ``evaluate_robustness(model, loader, quantizer, rates, chips)`` call
(default ``cnn_small`` on the 10,000 MNIST test images, Loader batch 1000,
normalize=True, 8-bit RQUANT) and divides it by the time of ``chips x rates`` clean
forward passes (``evaluate_pass`` with the clean quantized weights, same loader),
measured in the same run. Target: ratio <= 1.15. The numerator is the whole call:
quantization, the state copy and restore, the sweep's own clean pass (Err), every
injection (flip, dequantize, load) and the bookkeeping -- all counted as overhead.

Modes (``--mode``):

* ``interleaved`` (default): the error source handed to ``evaluate_robustness`` is
  wrapped so that, right before each (chip, p) pass, one clean pass of a separate
  copy of the model is run and timed. Clean and perturbed passes alternate, so a
  load change on a shared machine hits both alike. Sweep time = wall time of the
  call minus the embedded clean passes.
  With ``--clean-every k`` only every k-th (chip, p) pass gets a clean pass before
  it, and the measured clean time is scaled to ``chips x rates`` passes (for the
  long full sweep; take k coprime with the number of rates, so the paired jobs
  cover every rate).
* ``blocks``: a whole ``evaluate_robustness`` call, then ``chips x rates`` clean
  passes in one block (order alternating per repeat).
* ``both``: the two above, one after the other, per repeat.

A breakdown of the per-(chip, p) injection cost (flip_addresses, flip_bits,
with_flat_codes + dequantize, load_tensors) is printed too; it needs no forward pass.

    python benchmarks/bench_sweep.py --chips 5 --rates 1e-4 5e-4 1e-3 5e-3 1e-2 2e-2 5e-2 1e-1
    python benchmarks/bench_sweep.py --chips 50 --clean-every 9   # the full 50 x 8 sweep (~445 passes)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
from _machine import machine_info, save_results

from bitrobust.bit_errors.random_chips import flip_bits
from bitrobust.data import Loader, load_dataset
from bitrobust.evaluation.robustness import evaluate_pass, evaluate_robustness
from bitrobust.evaluation.sources import RandomChips
from bitrobust.models import build_model
from bitrobust.quantization import FixedPointQuantizer, load_tensors, quantize_model

DEFAULT_RATES = [1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]


class _Sync:
    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __call__(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


class InterleavedClean:
    """An error source that runs (and times) a clean pass before handing out every k-th (chip, p) error model."""

    def __init__(
        self, inner: RandomChips, clean_model: torch.nn.Module, data, now: _Sync, every: int = 1, log: bool = False
    ) -> None:
        self.inner, self.clean_model, self.data, self.now, self.every = inner, clean_model, data, now, every
        self.log = log
        self.name, self.trials = inner.name, inner.trials
        self.calls: list[tuple[float, float, float | None]] = []  # (enter, leave, clean pass seconds or None)

    def errors(self, trial: int, p: float):
        enter = self.now()
        clean = None
        if len(self.calls) % self.every == 0:
            evaluate_pass(self.clean_model, self.data)
            clean = self.now() - enter
        self.calls.append((enter, self.now(), clean))
        if self.log:
            print(f"job {len(self.calls)}: chip {trial}, p={p:g}" + (f", clean pass {clean:.2f} s" if clean else ""),
                  file=sys.stderr, flush=True)
        return self.inner.errors(trial, p)


def clean_copy(model: torch.nn.Module, quantizer: FixedPointQuantizer) -> torch.nn.Module:
    """A separate model holding the clean quantized weights (what the sweep's Err pass sees)."""
    twin = copy.deepcopy(model).eval()
    load_tensors(twin, quantize_model(twin, quantizer).dequantize())
    return twin


def run_interleaved(model, clean_model, data, quantizer, rates, chips, now, every: int = 1, log: bool = False) -> dict:
    source = InterleavedClean(RandomChips(chips), clean_model, data, now, every, log)
    t0 = now()
    evaluate_robustness(model, data, quantizer, rates, source)
    t_end = now()
    n = len(source.calls)
    assert n == chips * len(rates), (n, chips, len(rates))
    cleans = [c for _, _, c in source.calls if c is not None]
    clean = sum(cleans) * n / len(cleans)  # n clean passes (measured: every k-th, scaled)
    sweep = (t_end - t0) - sum(cleans)
    # job k's perturbed pass runs from the return of errors() k to the next call of errors()
    nxt = [enter for enter, _, _ in source.calls[1:]] + [t_end]
    jobs = [b - leave for (_, leave, _), b in zip(source.calls, nxt)]
    paired = [j / c for j, (_, _, c) in zip(jobs, source.calls) if c is not None]
    return {
        "sweep_s": sweep,
        "clean_s": clean,
        "ratio": sweep / clean,
        "setup_s": source.calls[0][0] - t0,  # quantize, copy, the sweep's own clean pass
        "passes": n,
        "clean_passes_measured": len(cleans),
        "clean_pass_median_s": statistics.median(cleans),
        "perturbed_job_median_s": statistics.median(jobs),
        "paired_job_ratio_median": statistics.median(paired),
    }


def run_blocks(model, clean_model, data, quantizer, rates, chips, now, clean_first: bool) -> dict:
    n = chips * len(rates)

    def sweep() -> float:
        t0 = now()
        evaluate_robustness(model, data, quantizer, rates, RandomChips(chips))
        return now() - t0

    def clean() -> float:
        t0 = now()
        for _ in range(n):
            evaluate_pass(clean_model, data)
        return now() - t0

    if clean_first:
        c = clean()
        s = sweep()
    else:
        s = sweep()
        c = clean()
    return {"sweep_s": s, "clean_s": c, "ratio": s / c, "passes": n, "clean_first": clean_first}


def injection_breakdown(model, quantizer, rates, chips: int, now) -> list[dict]:
    """Median ms per (chip, p) of each step of ``perturbed_pass`` before the forward pass."""
    state = quantize_model(model, quantizer)
    flat = state.flat_codes()
    work = copy.deepcopy(model)
    rows = []
    for p in rates:
        parts: dict[str, list[float]] = {"flip_addresses": [], "flip_bits": [], "with_flat_codes+dequantize": [],
                                         "load_tensors": [], "total": []}
        for c in range(chips):
            errors = RandomChips(chips).errors(c, p)
            t0 = now()
            addr = errors.flip_addresses(0, flat.numel() * state.bits, flat.device)
            t1 = now()
            noisy = flip_bits(flat, state.bits, addr)
            t2 = now()
            weights = state.with_flat_codes(noisy).dequantize()
            t3 = now()
            load_tensors(work, weights)
            t4 = now()
            for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                parts[key].append(dt)
        rows.append({"p": p, **{k: 1e3 * statistics.median(v) for k, v in parts.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--model", default="cnn_small", help="registered model name")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None, help="default: $BITROBUST_DATA, else the user cache")
    parser.add_argument("--n-test", type=int, default=None, help="use the first N test images (default: all)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--bits", type=int, default=8)
    parser.add_argument("--scheme", default="rquant")
    parser.add_argument("--chips", type=int, default=5, help="persistent chips per rate (50 = the full sweep)")
    parser.add_argument("--rates", type=float, nargs="+", default=DEFAULT_RATES, help="bit error rates p, all > 0")
    parser.add_argument("--mode", choices=("interleaved", "blocks", "both"), default="interleaved")
    parser.add_argument("--clean-every", type=int, default=1,
                        help="interleaved: one clean pass before every k-th (chip, p) pass, scaled to all (default 1)")
    parser.add_argument("--repeats", type=int, default=1, help="whole measurements; the median ratio is reported")
    parser.add_argument("--target", type=float, default=1.15, help="maximum sweep / clean ratio")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="model initialisation seed (weights are untrained)")
    parser.add_argument("--json", type=Path, default=None, help="save the numbers here")
    parser.add_argument("--verbose", action="store_true", help="interleaved: log each (chip, p) job to stderr")
    args = parser.parse_args()
    if any(p <= 0 for p in args.rates):
        parser.error("all rates must be > 0 (p = 0 reuses the clean pass and costs nothing)")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    now = _Sync(device)

    test = load_dataset(args.dataset, "test", data_dir=args.data_dir, download=False, progress=False)
    if args.n_test:
        test = test.subset(args.n_test, seed=0)
    data = Loader(test, batch_size=args.batch_size, normalize=True, device=device)
    in_channels = int(test.x.shape[1])
    model = build_model(args.model, in_channels=in_channels, num_classes=test.num_classes, seed=args.seed).to(device)
    model.eval()
    quantizer = FixedPointQuantizer(args.bits, args.scheme)
    clean_model = clean_copy(model, quantizer)
    n_weights = quantize_model(model, quantizer).num_words

    breakdown = injection_breakdown(model, quantizer, args.rates, min(args.chips, 10), now)
    evaluate_pass(clean_model, data)  # warm-up
    evaluate_pass(model, data)

    interleaved, blocks = [], []
    for r in range(args.repeats):
        if args.mode in ("interleaved", "both"):
            interleaved.append(run_interleaved(model, clean_model, data, quantizer, args.rates, args.chips, now,
                                               args.clean_every, args.verbose))
        if args.mode in ("blocks", "both"):
            blocks.append(run_blocks(model, clean_model, data, quantizer, args.rates, args.chips, now, r % 2 == 0))

    info = machine_info()
    info["device"] = str(device)
    passes = args.chips * len(args.rates)
    print(
        f"# sweep overhead: {args.model} ({n_weights:,} weights, {args.bits}-bit {args.scheme}), {args.dataset} test "
        f"({len(test):,} images, batch {args.batch_size}, normalize=True)"
    )
    print(
        f"# {info['cpu']}, {info['logical_cores']} logical cores, torch {info['torch']}, "
        f"{info['threads']} thread(s), device {device}, {info['date']}"
    )
    print(f"# {args.chips} chips x {len(args.rates)} rates = {passes} perturbed passes; rates {args.rates}")
    if interleaved and args.clean_every > 1:
        print(f"# interleaved: one clean pass per {args.clean_every} perturbed passes, scaled to {passes}")
    print()
    print(
        f"| mode | repeat | sweep (s) | {passes} clean passes (s) | ratio | clean pass (s, median) "
        "| paired job ratio (median) |"
    )
    print("|:---|---:|---:|---:|---:|---:|---:|")
    for i, m in enumerate(interleaved):
        print(
            f"| interleaved | {i + 1} | {m['sweep_s']:.1f} | {m['clean_s']:.1f} | {m['ratio']:.4f} | "
            f"{m['clean_pass_median_s']:.3f} | {m['paired_job_ratio_median']:.4f} |"
        )
    for i, m in enumerate(blocks):
        print(f"| blocks | {i + 1} | {m['sweep_s']:.1f} | {m['clean_s']:.1f} | {m['ratio']:.4f} | | |")
    summary = {}
    for name, ms in (("interleaved", interleaved), ("blocks", blocks)):
        if ms:
            summary[name] = statistics.median(m["ratio"] for m in ms)
    print()
    for name, ratio in summary.items():
        verdict = "met" if ratio <= args.target else "MISSED"
        print(f"{name}: median ratio {ratio:.4f} over {len(interleaved if name == 'interleaved' else blocks)} "
              f"repeat(s); target <= {args.target}: {verdict}")
    print()
    print("Injection per (chip, p) before the forward pass (median ms over "
          f"{min(args.chips, 10)} chips):")
    print()
    keys = [k for k in breakdown[0] if k != "p"]
    print("| p | " + " | ".join(keys) + " |")
    print("|---:|" + "---:|" * len(keys))
    for row in breakdown:
        print(f"| {row['p']:g} | " + " | ".join(f"{row[k]:.2f}" for k in keys) + " |")

    if args.json:
        save_results(
            args.json, "sweep", args, info,
            weights=n_weights,
            test_images=len(test),
            interleaved=interleaved,
            blocks=blocks,
            median_ratio=summary,
            target_met={k: v <= args.target for k, v in summary.items()},
            injection_breakdown_ms=breakdown,
        )

if __name__ == "__main__":
    main()
