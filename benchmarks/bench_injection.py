"""Injection throughput: one chip's persistent bit errors, sparse (RandomBitErrors) vs a dense uniform field.

Quantizes a model (default ``simplenet_cifar``, 5,498,378 weights) to m-bit words
(default 8), or takes ``--random-words W`` random words instead (e.g. 11,200,000: a
ResNet-18-sized field, no model needed), and times, side by side and interleaved, for
each rate p:

* sparse: ``RandomBitErrors(p, chip=c).apply(flat_codes, m)`` -- draws only the
  faulty bits (contract 2), including turning the addresses into XOR words; at
  p >= 5% the same chip is evaluated densely, a few blocks at a time;
* dense:  the naive way, a fresh ``torch.rand(W, m, generator=g)`` field per chip,
  ``u < p``, packed into one XOR word per weight and applied to the codes.

Each (repeat, chip, p) runs both methods back to back (alternating which goes first);
the table gives the median time of each and the median of the paired ratios
dense / sparse. Before timing, the sparse result is checked (assert) against the
per-bit definition ``RandomBitErrors(p, chip).uniform(addresses) < p`` on a slice of
words that is not block-aligned, and the faulty set at a lower rate is checked to be
a subset of the one at a higher rate. Targets: sparse >= 5x faster at p <= 1%, and at
most 1.5x the dense time (speed-up >= 1/1.5) at 5% <= p <= 50%.

    python benchmarks/bench_injection.py [--rates 1e-4 1e-3 1e-2 5e-2 0.1 0.2 0.3 0.5] [--chips 5] [--repeats 3]
        [--random-words 11200000] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _machine import machine_info, save_results

from bitrobust.bit_errors import RandomBitErrors
from bitrobust.models import build_model
from bitrobust.formats import get_format
from bitrobust.quantization import FixedPointQuantizer, quantize_model

def dense_apply(codes: torch.Tensor, bits: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """The naive chip: u ~ U(0,1)^(W x m) from ``generator``, flip bit j of word i iff u[i, j] < p."""
    w = codes.numel()
    mask = torch.rand(w, bits, generator=generator, device=codes.device) < p
    if bits <= 8:  # (mask bytes * 2^j) summed as uint8: the fastest packing of those tried
        weights = (1 << torch.arange(bits, device=codes.device)).to(torch.uint8)
        xor = (mask.view(torch.uint8) * weights).sum(1, dtype=torch.uint8)
    else:
        xor = (mask.to(torch.int64) << torch.arange(bits, device=codes.device)).sum(1)
    return codes ^ xor.to(codes.dtype)


def sparse_apply(codes: torch.Tensor, bits: int, p: float, chip: int) -> torch.Tensor:
    return RandomBitErrors(p, chip=chip).apply(codes, bits)


def flipped_bits(before: torch.Tensor, after: torch.Tensor, bits: int) -> torch.Tensor:
    """Bool (words x bits): which bits differ, bit j = least significant first."""
    diff = (before.to(torch.int64) ^ after.to(torch.int64)).reshape(-1, 1)
    return ((diff >> torch.arange(bits, device=diff.device)) & 1).bool()


_POPCOUNT8 = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.int64)


def popcount(words: torch.Tensor) -> int:
    """Set bits in all words (up to 32 bits: a byte table per byte)."""
    w, table = words.to(torch.int64), _POPCOUNT8.to(words.device)
    return sum(int(table[(w >> s) & 0xFF].sum()) for s in range(0, 8 * min(words.element_size(), 4), 8))


def verify(codes: torch.Tensor, bits: int, rates: list[float], chip: int, words: int) -> dict:
    """Assert sparse == per-bit u definition on a non-aligned slice, and nested faulty sets."""
    n = codes.numel()
    words = min(words, n)
    start = max(0, min(n - words, n // 3 + 12345))  # not a multiple of the 4096-bit block
    addresses = torch.arange(start * bits, (start + words) * bits, device=codes.device)
    u = RandomBitErrors(0.0, chip=chip).uniform(addresses).view(words, bits)
    previous, counts = None, {}
    for p in sorted(rates):
        noisy = sparse_apply(codes, bits, p, chip)
        got = flipped_bits(codes[start : start + words], noisy[start : start + words], bits)
        expected = u < p
        assert torch.equal(got, expected), f"sparse flips differ from u < p at p={p} (chip {chip})"
        if previous is not None:
            assert not bool((previous & ~got).any()), f"faulty set at a lower rate is not a subset at p={p}"
        previous, counts[p] = got, int(got.sum())
    return {"chip": chip, "word_start": start, "words": words, "bits_checked": words * bits, "flips": counts}


def timed(fn) -> tuple[float, torch.Tensor]:
    t0 = time.perf_counter()
    out = fn()
    if out.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--model", default="simplenet_cifar", help="registered model name")
    parser.add_argument("--bits", type=int, default=8, help="bits per word m")
    parser.add_argument("--scheme", default="rquant", help="quantization preset")
    parser.add_argument("--format", default=None, help="a number format instead of --bits/--scheme (the float-format "
                        "row: --format bf16, 16-bit words; bitrobust.formats)")
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2, 5e-2, 0.1, 0.2, 0.3, 0.5], help="bit error rates p"
    )
    parser.add_argument("--random-words", type=int, default=0, help="time this many random words, not a model")
    parser.add_argument("--chips", type=int, default=5, help="chips per repeat (sparse: chip c; dense: a fresh field)")
    parser.add_argument("--repeats", type=int, default=3, help="passes over all (chip, p)")
    parser.add_argument("--verify-words", type=int, default=65536, help="words in the verified slice (0: skip)")
    parser.add_argument("--target", type=float, default=5.0, help="required speed-up dense/sparse")
    parser.add_argument("--target-max-rate", type=float, default=0.01, help="target applies at p <= this")
    parser.add_argument("--high-target", type=float, default=1.5, help="allowed time sparse/dense at high rates")
    parser.add_argument("--high-rates", type=float, nargs=2, default=[0.05, 0.5], help="high-rate target's range")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="model init and dense generator seed")
    parser.add_argument("--json", type=Path, default=None, help="save the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    if args.random_words:
        words = torch.randint(0, 2**args.bits, (args.random_words,), generator=torch.Generator().manual_seed(args.seed))
        codes = words.to(torch.uint8 if args.bits <= 8 else torch.int64).to(device)
        args.model = "random words"
    else:
        model = build_model(args.model, seed=args.seed)
        fmt = FixedPointQuantizer(args.bits, args.scheme) if args.format is None else get_format(args.format)
        args.bits = fmt.bits
        codes = quantize_model(model, fmt).flat_codes().to(device)
    n_words = codes.numel()

    check = verify(codes, args.bits, args.rates, chip=0, words=args.verify_words) if args.verify_words else None

    gen = torch.Generator(device=device).manual_seed(args.seed)
    for p in args.rates:  # warm-up (allocator, lazy tables)
        sparse_apply(codes, args.bits, p, 0)
        dense_apply(codes, args.bits, p, gen)

    sparse_t: dict[float, list[float]] = {p: [] for p in args.rates}
    dense_t: dict[float, list[float]] = {p: [] for p in args.rates}
    pair: dict[float, list[float]] = {p: [] for p in args.rates}
    flips: dict[float, list[int]] = {p: [] for p in args.rates}
    k = 0
    for _ in range(args.repeats):
        for c in range(args.chips):
            for p in args.rates:
                run_sparse = lambda: sparse_apply(codes, args.bits, p, c)  # noqa: E731
                run_dense = lambda: dense_apply(codes, args.bits, p, gen)  # noqa: E731
                if k % 2 == 0:
                    ts, out = timed(run_sparse)
                    td, _ = timed(run_dense)
                else:
                    td, _ = timed(run_dense)
                    ts, out = timed(run_sparse)
                k += 1
                sparse_t[p].append(ts)
                dense_t[p].append(td)
                pair[p].append(td / ts)
                flips[p].append(popcount(codes ^ out))

    rows = []
    for p in args.rates:
        speedup = statistics.median(pair[p])
        low, high = p <= args.target_max_rate, args.high_rates[0] <= p <= args.high_rates[1]
        target = args.target if low else 1 / args.high_target if high else None
        rows.append(
            {
                "p": p,
                "flips_mean": statistics.mean(flips[p]),
                "sparse_ms_median": 1e3 * statistics.median(sparse_t[p]),
                "dense_ms_median": 1e3 * statistics.median(dense_t[p]),
                "speedup_median_paired": speedup,
                "speedup_min_paired": min(pair[p]),
                "target": target,
                "target_met": None if target is None else speedup >= target,
                "samples": len(pair[p]),
            }
        )
    info = machine_info()
    info["device"] = str(device)
    met = all(r["target_met"] for r in rows if r["target_met"] is not None)

    print(
        f"# injection throughput: {args.model}, {n_words:,} weights x {args.bits} bits = "
        f"{n_words * args.bits:,} bit addresses"
    )
    print(
        f"# {info['cpu']}, {info['logical_cores']} logical cores, torch {info['torch']}, "
        f"{info['threads']} thread(s), device {device}, {info['date']}"
    )
    print(f"# {args.repeats} repeats x {args.chips} chips per rate, interleaved; medians")
    if check:
        print(
            f"# verified: sparse flips == (uniform(a) < p) on {check['bits_checked']:,} bits "
            f"(words {check['word_start']}..{check['word_start'] + check['words'] - 1}, chip 0), "
            f"faulty sets nested across rates"
        )
    print()
    print(
        "| p | flipped bits (mean) | sparse apply (ms) | dense torch.rand (ms) | speed-up dense/sparse | min "
        "| target (speed-up) |"
    )
    print("|---:|---:|---:|---:|---:|---:|:---|")
    for r in rows:
        verdict = "met" if r["target_met"] else "MISSED"
        tgt = "n/a (info)" if r["target"] is None else f">= {r['target']:.2f}x: {verdict}"
        print(
            f"| {100 * r['p']:g}% | {r['flips_mean']:,.0f} | {r['sparse_ms_median']:.1f} | {r['dense_ms_median']:.1f} "
            f"| {r['speedup_median_paired']:.1f}x | {r['speedup_min_paired']:.1f}x | {tgt} |"
        )
    print()
    print(
        f"targets (>= {args.target:g}x at p <= {100 * args.target_max_rate:g}%; <= {args.high_target:g}x the dense "
        f"time at {100 * args.high_rates[0]:g}% <= p <= {100 * args.high_rates[1]:g}%): {'met' if met else 'MISSED'}"
    )

    if args.json:
        save_results(
            args.json, "injection", args, info,
            weights=n_words,
            verify=check and {**check, "flips": {str(k): v for k, v in check["flips"].items()}},
            rows=rows,
            target_met=met,
            raw={str(p): {"sparse_s": sparse_t[p], "dense_s": dense_t[p], "flips": flips[p]} for p in args.rates},
        )

if __name__ == "__main__":
    main()
