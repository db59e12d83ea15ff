"""Flip-training overhead per step vs plain BNN training (issue 4 benchmark).

Times one training step (forward, backward, Adam, latent-weight clipping) of a BNN on
an MNIST-shaped batch without flips and with fresh flips at rate p for both flip
operators, interleaved in one run; prints the median step times and their ratios.
Target: flip training <= 1.15x plain training.

    python benchmarks/bench_flip.py --arch FC2048-FC2048-10 --p 0.1 --repeats 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from bitrobust.models.bnn import build_bnn
from bitrobust.nn.binary import clip_latent_weights, set_flip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="FC2048-FC2048-10")
    ap.add_argument("--p", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.batch, 1, 28, 28), generator=g).float()
    y = torch.randint(0, 10, (args.batch,), generator=g)
    variants = {"plain": None, "straight_through": "straight_through", "native": "native"}
    setups = {}
    for name, mode in variants.items():
        model = build_bnn(args.arch, seed=0).train()
        if mode:
            set_flip(model, args.p, mode, torch.Generator().manual_seed(1))
        setups[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))

    def step(model, opt):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        clip_latent_weights(model)

    times: dict[str, list[float]] = {name: [] for name in variants}
    for name in variants:  # warm-up
        step(*setups[name])
    for _ in range(args.repeats):  # interleaved: load changes hit all variants alike
        for name in variants:
            t = time.perf_counter()
            step(*setups[name])
            times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"{args.arch}, batch {args.batch}, p = {args.p}, {args.threads} thread(s), median of {args.repeats}\n")
    print("| training | step (ms) | ratio to plain |")
    print("|---|---|---|")
    for name in variants:
        print(f"| {name} | {1000 * med[name]:.1f} | {med[name] / med['plain']:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"arch": args.arch, "p": args.p, "median_s": med}, f, indent=2)


if __name__ == "__main__":
    main()
