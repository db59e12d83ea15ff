"""RandBET step cost relative to a clean QAT step (paper 3, Alg. 1 and App. G.4).

Alg. 1 adds one forward and backward pass with perturbed weights, so a RandBET step
should cost about twice a quantization-aware training step; the paper's own
implementation roughly tripled training time because its bit error injection was slow
(App. G.4). This script times full training steps (zero_grad, strategy.train_step,
optimizer step, clipping) of ``normal`` (QAT) and ``randbet`` side by side on the same
model and batch (MNIST-shaped random input, batch 128, 8-bit RQUANT, w_max = 0.1,
p = 1 %, errors injected every step), interleaving the two so machine load hits both
alike, and reports medians and their ratio (target <= 2.2). It also times the injection
alone (flip the words, dequantize) to show it is cheap.

    python benchmarks/bench_randbet.py                      # cnn_small and simplenet_mnist
    python benchmarks/bench_randbet.py --models cnn_small --repeats 20 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from types import SimpleNamespace

import torch

from bitrobust.models import build_model
from bitrobust.training import STRATEGIES, OptimSection, QuantSection, StepContext, StrategySection
from bitrobust.training.optim import build_optimizer

PARAMS = {"p": 0.01, "loss_threshold": None, "combine": "average", "perturbed_grad_max_value": 0.05}


class Bench(SimpleNamespace):
    """A strategy on a StepContext around one model, as the Trainer builds it; ``step`` is Trainer.fit's inner loop."""

    def __init__(self, model: torch.nn.Module, name: str, params: dict) -> None:
        optimizer = build_optimizer(OptimSection(), model.parameters())
        ctx = StepContext(model, optimizer, quant=QuantSection(bits=8, scheme="rquant"), total_steps=100)
        strategy = STRATEGIES.get(name)(StrategySection(name=name, clip_w_max=0.1, params=params))
        strategy.setup(ctx)
        super().__init__(ctx=ctx, model=model, optimizer=optimizer, strategy=strategy)

    def step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> float:
        _sync(x.device)
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        self.strategy.train_step(x, y, step)
        self.ctx.update()
        self.strategy.after_step()
        _sync(x.device)
        return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def injection_time(bench: Bench, repeats: int) -> float:
    """Median seconds of Q(w), BErr_p on the flat words and Q^-1 (no forward/backward)."""
    s = bench.strategy
    device = next(bench.model.parameters()).device
    times = []
    for t in range(repeats):
        _sync(device)
        start = time.perf_counter()
        state = s.quantized_state()
        s.perturbed_weights(state, s.errors_at(t))
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(model_name: str, batch: int, repeats: int, warmup: int, variants: list[str], device: str) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    base = build_model(model_name, seed=0, num_classes=10, in_channels=1).to(device)
    benches = {"normal": Bench(copy.deepcopy(base), "normal", {})}
    for name in variants:
        benches[name] = Bench(copy.deepcopy(base), name, PARAMS)
    times: dict[str, list[float]] = {name: [] for name in benches}
    for step in range(warmup + repeats):
        for name, bench in benches.items():  # interleaved: load spikes hit every variant alike
            dt = bench.step(x, y, step)
            if step >= warmup:
                times[name].append(dt)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    return {
        "model": model_name,
        "weights": sum(p.numel() for p in base.parameters()),
        "median_s": med,
        "ratio": {name: med[name] / med["normal"] for name in variants},
        "inject_s": injection_time(benches[variants[0]], max(repeats, 5)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn_small", "simplenet_mnist"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--variants", nargs="+", default=["randbet", "alternating_randbet"],
                        help="strategies timed against normal QAT (first one: the target ratio)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = [run(m, args.batch, args.repeats, args.warmup, args.variants, args.device) for m in args.models]
    print(f"RandBET step cost / QAT step cost (batch {args.batch}, 1x28x28, 8-bit RQUANT, p = 1 %, {args.device}, "
          f"{args.threads} thread(s), median of {args.repeats})\n")
    head = ["model", "weights", "QAT step [ms]"] + [f"{v} [ms]" for v in args.variants] + \
        [f"{v} / QAT" for v in args.variants] + ["injection [ms]"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    worst = 0.0
    for r in rows:
        cells = [r["model"], f"{r['weights']:,}", f"{1e3 * r['median_s']['normal']:.1f}"]
        cells += [f"{1e3 * r['median_s'][v]:.1f}" for v in args.variants]
        cells += [f"{r['ratio'][v]:.2f}" for v in args.variants]
        cells += [f"{1e3 * r['inject_s']:.2f}"]
        print("| " + " | ".join(cells) + " |")
        worst = max(worst, r["ratio"][args.variants[0]])
    verdict = "meets" if worst <= 2.2 else "MISSES"
    print(f"\nworst {args.variants[0]} / QAT ratio: {worst:.2f} ({verdict} the target <= 2.2)")


if __name__ == "__main__":
    main()
