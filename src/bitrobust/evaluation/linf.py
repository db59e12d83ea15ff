"""Robustness to relative L-inf weight noise (paper 3, App. G.3, Fig. 9).

Every quantized weight w_q gets independent uniform noise delta in [-eps R, eps R],
with R = q_max - q_min the width of its tensor's quantization range, so eps is the
noise magnitude relative to the weight range, as in Fig. 9 ("noise with L-inf norm
smaller than or equal to x% of the weight range"). Unlike random bit errors, this
perturbs all weights at once. The noise is drawn on the CPU from a generator seeded
by (seed, trial), so results do not depend on the device.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Iterable, Sequence

import torch
from torch import nn

from bitrobust.bit_errors.hashing import derive_key
from bitrobust.evaluation.robustness import Batches, RateResult, RobustnessResult, check_reiterable, evaluate_pass
from bitrobust.quantization import FixedPointQuantizer, load_tensors, quantize_model, restored
from bitrobust.tasks import Task


def linf_noise(
    weights: dict[str, torch.Tensor], widths: dict[str, float], eps: float, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """w + U[-eps R, eps R] per tensor (R = its range width)."""
    out = {}
    for name, w in weights.items():
        u = torch.rand(w.shape, generator=generator, dtype=torch.float32) * 2 - 1
        out[name] = w + (u * (eps * widths[name])).to(device=w.device, dtype=w.dtype)
    return out


def evaluate_linf_noise(
    model: nn.Module,
    data: Batches,
    quantizer: FixedPointQuantizer,
    epsilons: Sequence[float],
    trials: int = 10,
    *,
    seed: int = 0,
    exclude: Iterable[str] = (),
    task: Task | None = None,
) -> RobustnessResult:
    """Err and the ``task``'s error under relative L-inf noise per eps (reported as ``rates``)."""
    check_reiterable(data)
    with restored(model):
        model.eval()
        state = quantize_model(model, quantizer, exclude=exclude)
        clean_weights = state.dequantize()
        widths = {name: qt.qrange[1] - qt.qrange[0] for name, qt in state.tensors.items()}
        load_tensors(model, clean_weights)
        clean = evaluate_pass(model, data, task)
        per_eps = []
        for eps in epsilons:
            passes = []
            for t in range(trials):
                g = torch.Generator().manual_seed(derive_key(seed, t) & ((1 << 62) - 1))
                load_tensors(model, linf_noise(clean_weights, widths, float(eps), g))
                passes.append(evaluate_pass(model, data, task))
            ppl = () if clean.nll is None else tuple(r.perplexity for r in passes)
            per_eps.append(RateResult(float(eps), tuple(r.error for r in passes), tuple(r.confidence for r in passes),
                                      nonfinite=tuple(r.nonfinite for r in passes), perplexity=ppl))
    return RobustnessResult(
        err=clean.error,
        confidence=clean.confidence,
        n_examples=clean.n,
        source="linf",
        trials=trials,
        bits=quantizer.bits,
        scheme=asdict(quantizer.scheme),
        rates=tuple(per_eps),
        perplexity=clean.perplexity,
    )
