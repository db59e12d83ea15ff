"""Speed of neuron importance Pi: fast (cached, batched, rank-one updates) vs Algorithm 1.

Builds a BNN (default ``FC2048-FC2048-10``, paper 1 Table II), trains it briefly on
Fashion-MNIST, then times :func:`neuron_importance` on every hidden neuron over the
test images and :func:`neuron_importance_naive` (one full forward pass per neuron) on
an evenly spread subset of neurons, whose time is scaled to all neurons. The subset's
values are checked to be identical.

    python benchmarks/bench_importance.py [--n-test 10000] [--naive-neurons 16] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bitrobust.data import load_dataset
from bitrobust.metrics.importance import importance_variance, neuron_importance, neuron_importance_naive
from bitrobust.models.bnn import build_bnn
from bitrobust.nn.binary import clip_latent_weights


def _data_dir(arg: str | None) -> Path | None:
    if arg:
        return Path(arg)
    if os.environ.get("BITROBUST_DATA"):
        return None
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    return shared if (shared / "fashion-mnist").is_dir() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="FC2048-FC2048-10")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n-test", type=int, default=10000, help="test images used by both methods")
    parser.add_argument("--naive-neurons", type=int, default=16, help="neurons timed with Algorithm 1")
    parser.add_argument("--steps", type=int, default=100, help="Adam steps of brief training (0: random init)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    data_dir = _data_dir(args.data_dir)
    train = load_dataset(args.dataset, "train", data_dir=data_dir, download=False, progress=False)
    test = load_dataset(args.dataset, "test", data_dir=data_dir, download=False, progress=False)
    model = build_bnn(args.arch, in_shape=tuple(train.x.shape[1:]), seed=args.seed).to(device)
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        idx = torch.randint(0, len(train.x), (128,), generator=gen)
        loss = F.cross_entropy(model(train.x[idx].to(device)), train.y[idx].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        clip_latent_weights(model)
    train_s = time.perf_counter() - t0
    model.eval()

    x, y = test.x[: args.n_test].to(device), test.y[: args.n_test].to(device)
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    total = model.num_hidden_neurons()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    pi = neuron_importance(model, x, y)
    sync()
    fast_s = time.perf_counter() - t0

    subset = torch.linspace(0, total - 1, min(args.naive_neurons, total)).round().long().unique().tolist()
    sync()
    t0 = time.perf_counter()
    pi_naive = neuron_importance_naive(model, x, y, neurons=subset)
    sync()
    naive_subset_s = time.perf_counter() - t0
    naive_total_s = naive_subset_s / len(subset) * total
    identical = torch.equal(pi[subset], pi_naive)

    print(f"# neuron importance benchmark ({platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device})")
    print(f"model {args.arch}: {total} hidden neurons, trained {args.steps} Adam steps ({train_s:.1f} s), "
          f"{args.dataset} test accuracy {acc:.4f} on {len(x)} images")
    print(f"fast  neuron_importance (all {total} neurons):         {fast_s:9.2f} s")
    print(f"naive Algorithm 1 on {len(subset)} neurons:                  {naive_subset_s:9.2f} s "
          f"({naive_subset_s / len(subset):.3f} s per neuron)")
    print(f"naive Algorithm 1, scaled to all {total} neurons:         {naive_total_s:9.1f} s (estimate)")
    print(f"speed-up: {naive_total_s / fast_s:.0f}x; subset values identical: {identical}; "
          f"VAR(Pi) = {importance_variance(pi):.3e}")


if __name__ == "__main__":
    main()
