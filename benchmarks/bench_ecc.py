"""SECDED ECC cost: encode + decode of a whole model's data region next to one forward pass over 1,000 images.

Issue 11's target: ECC decoding of a 5.5M-weight model (8-bit words, k = 64) at p = 1%
costs less than one forward pass of that model over 1,000 test images. The model is
``simplenet_cifar`` (paper 3's SimpleNet, 5,498,378 weights) quantized to 8-bit RQUANT
words; the images are 1,000 random 3x32x32 inputs (the forward pass's cost does not
depend on the pixel values, and CIFAR-10 is not needed).

For each repeat and rate p, interleaved (alternating which goes first):

* encode: ``Secded(k).encode_words(words, m)`` -- the check bits of the clean words
  (done once per model in an evaluation);
* decode: ``Secded(k).decode_words(read_words, m, read_check)`` on the words and check
  bits of chip c at rate p (flips from ``RandomBitErrors(p, chip=c)``: the data words at
  bit addresses 0.., the check bits right after them, as the ECC region of layout v2);
  injection itself is timed apart (see bench_injection.py);
* forward: one ``torch.inference_mode`` pass of the float model over the 1,000 images.

The table gives medians and the median of the paired ratios (encode + decode) / forward.
Before timing, every decode is checked: codewords with at most one flip come back clean,
and the counts cover every codeword with exactly one (corrected) or two (detected) flips.

    python benchmarks/bench_ecc.py [--code secded64] [--rates 1e-2] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from _machine import machine_info, save_results

from bitrobust.bit_errors import RandomBitErrors, bits_to_words, secded_code, words_to_bits
from bitrobust.models import build_model
from bitrobust.quantization import FixedPointQuantizer, quantize_model

def inject(code, words, check, bits, p, chip):
    """Chip ``chip``'s flips at rate p in the data words (addresses 0..) and the check bits right after them."""
    errors = RandomBitErrors(p, chip=chip)
    read = errors.apply(words, bits)
    data_bits = words.numel() * bits
    if data_bits % code.check_bits:  # check words of width n - k must start at a whole word offset
        raise SystemExit(f"data region of {data_bits} bits is not a whole number of {code.check_bits}-bit check words")
    check_words = bits_to_words(check, code.check_bits)
    flipped = errors.apply(check_words, code.check_bits, word_offset=data_bits // code.check_bits)
    return read, words_to_bits(flipped, code.check_bits)


def flips_per_codeword(code, words, read, check, read_check, bits):
    """Flipped bits (data and check) of each codeword."""
    diff = (words_to_bits(words, bits) ^ words_to_bits(read, bits))
    pad = code.codewords(diff.numel()) * code.k - diff.numel()
    data = torch.cat([diff, diff.new_zeros(pad)]).view(-1, code.k).sum(1)
    return data + (check ^ read_check).view(-1, code.check_bits).sum(1)


def verify(code, words, check, bits, p, chip) -> dict:
    read, read_check = inject(code, words, check, bits, p, chip)
    fixed, counts = code.decode_words(read, bits, read_check)
    flips = flips_per_codeword(code, words, read, check, read_check, bits)
    wrong = (words_to_bits(fixed, bits) ^ words_to_bits(words, bits))
    pad = code.codewords(wrong.numel()) * code.k - wrong.numel()
    wrong = torch.cat([wrong, wrong.new_zeros(pad)]).view(-1, code.k).any(1)
    assert not bool(wrong[flips <= 1].any()), "a codeword with at most one flip was not restored"
    ones, twos = int((flips == 1).sum()), int((flips == 2).sum())
    assert counts.corrected >= ones and counts.detected >= twos, (counts, ones, twos)
    return {"p": p, "chip": chip, "codewords": counts.codewords, "one_flip": ones, "two_flips": twos,
            "corrected": counts.corrected, "detected": counts.detected,
            "wrong_after_decode": int(wrong.sum())}


def timed(fn, device):
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--model", default="simplenet_cifar", help="registered model name (32x32 RGB input)")
    parser.add_argument("--bits", type=int, default=8, help="bits per word m")
    parser.add_argument("--scheme", default="rquant", help="quantization preset")
    parser.add_argument("--code", default="secded64", help="ECC code (secded8, secded16, secded32, secded64)")
    parser.add_argument("--rates", type=float, nargs="+", default=[1e-2], help="bit error rates p")
    parser.add_argument("--images", type=int, default=1000, help="images in the forward pass")
    parser.add_argument("--batch", type=int, default=500, help="batch size of the forward pass")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per rate")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="model init and image seed")
    parser.add_argument("--json", type=Path, default=None, help="save the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    code = secded_code(args.code)

    model = build_model(args.model, seed=args.seed).to(device).eval()
    words = quantize_model(model, FixedPointQuantizer(args.bits, args.scheme)).flat_codes().to(device)
    images = torch.rand(args.images, 3, 32, 32, generator=torch.Generator().manual_seed(args.seed)).to(device)

    def forward():
        with torch.inference_mode():
            for batch in images.split(args.batch):
                out = model(batch)
        return out

    check = code.encode_words(words, args.bits)
    checks = [verify(code, words, check, args.bits, p, chip=0) for p in args.rates]
    reads = {p: inject(code, words, check, args.bits, p, chip=1) for p in args.rates}
    forward()  # warm-up
    for read, read_check in reads.values():
        code.decode_words(read, args.bits, read_check)

    enc_t = {p: [] for p in args.rates}
    dec_t = {p: [] for p in args.rates}
    fwd_t = {p: [] for p in args.rates}
    inj_t = {p: [] for p in args.rates}
    ratio = {p: [] for p in args.rates}

    def ecc(read, read_check):
        t_enc, _ = timed(lambda: code.encode_words(words, args.bits), device)
        t_dec, _ = timed(lambda: code.decode_words(read, args.bits, read_check), device)
        return t_enc, t_dec

    for rep in range(args.repeats):
        for i, p in enumerate(args.rates):
            if (rep + i) % 2 == 0:
                t_enc, t_dec = ecc(*reads[p])
                t_fwd, _ = timed(forward, device)
            else:
                t_fwd, _ = timed(forward, device)
                t_enc, t_dec = ecc(*reads[p])
            t_inj, _ = timed(lambda: inject(code, words, check, args.bits, p, chip=2 + rep), device)  # noqa: B023
            enc_t[p].append(t_enc)
            dec_t[p].append(t_dec)
            fwd_t[p].append(t_fwd)
            inj_t[p].append(t_inj)
            ratio[p].append((t_enc + t_dec) / t_fwd)

    rows = [
        {
            "p": p,
            "encode_ms_median": 1e3 * statistics.median(enc_t[p]),
            "decode_ms_median": 1e3 * statistics.median(dec_t[p]),
            "forward_ms_median": 1e3 * statistics.median(fwd_t[p]),
            "inject_ms_median": 1e3 * statistics.median(inj_t[p]),
            "ratio_median_paired": statistics.median(ratio[p]),
            "ratio_max_paired": max(ratio[p]),
            "target_met": max(ratio[p]) < 1.0,
            "samples": len(ratio[p]),
        }
        for p in args.rates
    ]
    met = all(r["target_met"] for r in rows)
    info = machine_info()
    info["device"] = str(device)
    n_words = words.numel()
    params = sum(t.numel() for t in model.parameters())
    print(
        f"# ECC cost: {args.code} ({code.n}, {code.k}), {args.model} ({params:,} weights) as {n_words:,} "
        f"{args.bits}-bit words = {n_words * args.bits:,} data bits, {code.codewords(n_words * args.bits):,} codewords, "
        f"{check.numel():,} check bits; forward pass over {args.images} images (batch {args.batch})"
    )
    print(
        f"# {info['cpu']}, {info['logical_cores']} logical cores, torch {info['torch']}, "
        f"{info['threads']} thread(s), device {device}, {info['date']}"
    )
    print(f"# {args.repeats} interleaved repeats per rate; medians; ratio = (encode + decode) / forward, paired")
    for c in checks:
        print(
            f"# verified at p={100 * c['p']:g}% (chip 0): every codeword with <= 1 flip restored; "
            f"{c['one_flip']:,} one-flip / {c['two_flips']:,} two-flip codewords -> "
            f"{c['corrected']:,} corrected / {c['detected']:,} detected; {c['wrong_after_decode']:,} codewords still wrong"
        )
    print()
    print(f"| p | encode (ms) | decode (ms) | forward, {args.images} images (ms) | (encode + decode) / forward | max "
          "| injection, data + check bits (ms, info) | target < 1 |")
    print("|---:|---:|---:|---:|---:|---:|---:|:---|")
    for r in rows:
        print(
            f"| {100 * r['p']:g}% | {r['encode_ms_median']:.1f} | {r['decode_ms_median']:.1f} "
            f"| {r['forward_ms_median']:.0f} | {r['ratio_median_paired']:.4f} | {r['ratio_max_paired']:.4f} "
            f"| {r['inject_ms_median']:.1f} | {'met' if r['target_met'] else 'MISSED'} |"
        )
    print()
    print(f"target (encode + decode cheaper than one forward pass, every sample): {'met' if met else 'MISSED'}")
    if args.json:
        save_results(
            args.json, "ecc", args, info,
            weights=n_words, verify=checks, rows=rows, target_met=met,
            raw={str(p): {"encode_s": enc_t[p], "decode_s": dec_t[p], "forward_s": fwd_t[p], "inject_s": inj_t[p]}
                 for p in args.rates},
        )


if __name__ == "__main__":
    main()
