"""The ``weights`` evaluation kind: weight statistics and redundancy (paper 3, Fig. 10, App. G.3).

On the clean quantized weights (Stutz, Chandramoorthy, Hein, Schiele, "Bit Error Robustness
for Energy-Efficient DNN Accelerators", MLSys 2021) it computes:

- histograms of every tensor's weights relative to w_max (the clipping bound), or to the
  largest weight magnitude of the model without clipping;
- weight relevance sum_i |w_i| / max_i |w_i| per tensor (and over the whole model): how
  many weights are relevant considering their magnitude;
- ReLU relevance: the fraction of non-zero activations after the model's last ``nn.ReLU``
  module over the test set (activation redundancy); None if the model has none;
- relative absolute error at p = 1 %: the paper names it without a formula ("computed
  considering random bit errors with probability p = 1 %", "decreases for CLIPPING, meaning
  that random bit errors have less impact"); we read it as the error of the logits z,
  relative to their size, averaged over persistent chips c::

      RAE = mean_c  sum_x ||z_c(x) - z(x)||_1 / sum_x ||z(x)||_1

  (z: clean quantized model, z_c: chip c's bit errors injected). Like the decision, it is
  invariant to rescaling the weights of a normalized network, which the absolute weight
  error (Fig. 4) is not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.evaluation.kind import EvalKind, Outcome, on_test_set, register_kind
from bitrobust.evaluation.run import LoadedRun, check_weight_format
from bitrobust.evaluation.sources import RandomChips
from bitrobust.device import model_device
from bitrobust.quantization import load_tensors, quantize_model
from bitrobust.tasks import Classification, Task, logits_of, run_batch

HIST_BINS = 41
RAE_P = 0.01
RAE_CHIPS = 10


@dataclass(frozen=True)
class WeightsSettings:
    """Statistics of the weights quantized with ``scheme``/``bits`` (default: training's); the relative
    logit error over ``rae_chips`` chips at ``rae_p``."""

    scheme: str | None = None
    bits: int | None = None
    rae_p: float = RAE_P
    rae_chips: int = RAE_CHIPS
    test_subset: int | None = None
    kind: str = "weights"
    format: str | None = None  # a number format (bitrobust.formats) instead of scheme/bits

    def __post_init__(self) -> None:
        check_weight_format(self.format, self.bits, self.scheme)
        if not 0 < self.rae_p <= 1:
            raise BitrobustError(f"rae_p must be in (0, 1], got {self.rae_p}")
        if isinstance(self.rae_chips, bool) or not isinstance(self.rae_chips, int) or self.rae_chips < 1:
            raise BitrobustError(f"rae_chips must be an integer >= 1, got {self.rae_chips!r}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "test_subset": self.test_subset, "scheme": self.scheme, "bits": self.bits,
                "rae_p": self.rae_p, "rae_chips": self.rae_chips, **({"format": self.format} if self.format else {})}


@torch.no_grad()
def weight_statistics(model: nn.Module, loader, w_max: float | None, task: Task | None = None) -> dict:
    """Histograms, weight relevance and ReLU relevance (module docstring) of ``model`` as it is, on ``loader``'s
    batches (split by ``task``, default classification)."""
    kinds = {}
    for mname, module in model.named_modules():
        kind = ("conv" if isinstance(module, nn.Conv2d) else "linear" if isinstance(module, nn.Linear)
                else "norm" if "norm" in type(module).__name__.lower() else None)
        if kind:
            for pname, _ in module.named_parameters(recurse=False):
                kinds[f"{mname}.{pname}" if mname else pname] = kind
    params = [(n, p.detach().float().flatten().cpu()) for n, p in model.named_parameters()]
    largest = max(float(w.abs().max()) for _, w in params)
    ref = float(w_max) if w_max else largest
    tensors = []
    for name, w in params:
        amax = float(w.abs().max())
        relevance = float(w.abs().sum()) / amax if amax > 0 else 0.0
        hist = torch.histc((w / ref).clamp(-1, 1), bins=HIST_BINS, min=-1, max=1) if ref > 0 else torch.zeros(HIST_BINS)
        tensors.append({
            "name": name, "kind": kinds.get(name, "other"), "shape": list(w.shape), "numel": w.numel(), "max_abs": amax,
            "weight_relevance": relevance, "weight_relevance_fraction": relevance / w.numel(),
            "hist": [int(c) for c in hist.tolist()],
        })
    total = sum(float(w.abs().sum()) for _, w in params)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    relu = None
    if relus:
        counts = {"nonzero": 0, "total": 0}

        def hook(_module, _inputs, output):
            counts["nonzero"] += int((output != 0).sum())
            counts["total"] += output.numel()

        handle = relus[-1].register_forward_hook(hook)
        was_training = model.training
        model.eval()
        task, device = task or Classification(), model_device(model)
        try:
            for batch in loader:
                run_batch(model, batch, task, device)
        finally:
            handle.remove()
            model.train(was_training)
        relu = counts["nonzero"] / max(counts["total"], 1)
    n = sum(w.numel() for _, w in params)
    return {
        "reference": ref, "reference_is_w_max": bool(w_max), "max_abs": largest, "hist_bins": HIST_BINS,
        "hist_range": [-1.0, 1.0], "weight_relevance": total / largest if largest > 0 else 0.0,
        "weight_relevance_fraction": (total / largest / n) if largest > 0 else 0.0, "relu_relevance": relu,
        "tensors": tensors,
    }


@torch.no_grad()
def relative_logit_error(model: nn.Module, state, data, source, p: float, task: Task | None = None) -> list[float]:
    """Per trial c of ``source``: sum_x ||z_c(x) - z(x)||_1 / sum_x ||z(x)||_1 (module docstring),
    with ``state`` the model's quantized weights and ``data``'s batches split by ``task`` (default
    classification); the clean ones are loaded again afterwards."""
    was_training = model.training
    model.eval()
    task, device = task or Classification(), model_device(model)
    batches = list(data)

    def logits(batch):
        return logits_of(run_batch(model, batch, task, device)[0]).float()

    clean = [logits(b) for b in batches]
    norm = sum(float(z.abs().sum()) for z in clean)
    if norm == 0:
        raise BitrobustError("the relative logit error is undefined: the clean logits are all zero")
    out = []
    try:
        for c in range(source.trials):
            load_tensors(model, state.with_errors(source.errors(c, p)).dequantize())
            diff = sum(float((logits(b) - z).abs().sum()) for b, z in zip(batches, clean))
            out.append(diff / norm)
    finally:
        load_tensors(model, state.dequantize())
        model.train(was_training)
    return out


@register_kind
class WeightsKind(EvalKind):
    name = "weights"
    result_file = "weights.json"

    settings_type = WeightsSettings

    def run(self, run: LoadedRun, s: WeightsSettings, data_dir: str | os.PathLike | None = None,
            progress: bool = False, batch_size: int | None = None) -> Outcome:
        model = run.model
        quantizer, exclude = run.quantizer(s.bits, s.scheme, s.format)
        state = quantize_model(model, quantizer, exclude=exclude)
        load_tensors(model, state.dequantize())  # the weights in memory
        w_max = ((run.meta.get("config") or {}).get("strategy") or {}).get("clip_w_max")
        loader = run.test_data(data_dir, s.test_subset, self.batch_size(batch_size))
        result = weight_statistics(model, loader, w_max, run.task)
        rae = relative_logit_error(model, state, loader, RandomChips(s.rae_chips), s.rae_p, run.task)
        result.update(relative_error=sum(rae) / len(rae), relative_error_per_chip=rae, relative_error_p=s.rae_p)
        return Outcome(result)

    def describe(self, s: WeightsSettings) -> str:
        extra = "".join(f", {label}" for key, label in (("format", f"format {s.format}"), ("scheme", f"scheme {s.scheme}"),
                                                          ("bits", f"m={s.bits}"))
                        if getattr(s, key))
        return f"weight statistics{extra}{on_test_set(s.test_subset)}"

    def summary(self, outcome: Outcome, s: WeightsSettings) -> str:
        r = outcome.result
        relu = "n/a" if r["relu_relevance"] is None else f"{100 * r['relu_relevance']:.1f}%"
        return (f"weight relevance {r['weight_relevance_fraction']:.3f} of the weights, ReLU relevance {relu}, "
                f"relative logit error {100 * r['relative_error']:.1f}% at p={100 * s.rae_p:g}%")

    def passes(self, s: WeightsSettings) -> float:
        return 2 + s.rae_chips  # clean logits, ReLU statistics, one pass per chip
