"""The ``logits`` evaluation kind: distributions of the logits and confidences, clean and with bit errors (paper 3, Fig. 6).

Fig. 6 of Stutz, Chandramoorthy, Hein, Schiele, "Bit Error Robustness for Energy-Efficient DNN
Accelerators" (MLSys 2021) shows that weight clipping limits the range of the logits but
still lets the network reach high confidences, and that random bit errors (p = 1 %) move
the logits and confidences of a clipped network much less. Per test example x we record
the largest logit max_k z_k(x) and the confidence max_k softmax(z(x))_k, on the clean
quantized weights and with the bit errors of each persistent chip c at each rate p, and
keep them as histograms: confidences on fixed bins over [0, 1], largest logits on bins
spanning every finite value seen for this model (clean and perturbed, so both share one
axis). Perturbed histograms pool all chips of a rate; examples whose logits are not finite
are counted apart (contract 5).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from bitrobust.bit_errors import check_rate
from bitrobust.device import model_device
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.kind import EvalKind, Outcome, on_test_set, register_kind
from bitrobust.evaluation.run import LoadedRun, check_weight_format
from bitrobust.evaluation.sources import RandomChips
from bitrobust.formats import format_name
from bitrobust.quantization import load_tensors, quantize_model, restored
from bitrobust.quantization.model import Quantizer
from bitrobust.tasks import Classification, Task, logits_of, run_batch

FIG6_RATES = (0.01,)
BINS = 50


@dataclass(frozen=True)
class LogitsSettings:
    """Histograms of the largest logit and the confidence, clean and at ``rates`` over ``chips`` chips from
    ``first_chip`` (chips default to the recipe's ``eval.chips``), with ``bins`` bins; the weights in the run's
    own number format, or ``format`` (a :mod:`bitrobust.formats` name, e.g. ``"bf16"``) or ``bits``/``scheme``."""

    rates: tuple[float, ...] = FIG6_RATES
    chips: int = 10
    first_chip: int = 0
    bins: int = BINS
    scheme: str | None = None
    bits: int | None = None
    test_subset: int | None = None
    format: str | None = None
    kind: str = "logits"

    def __post_init__(self) -> None:
        if not self.rates:
            raise BitrobustError("no bit error rates given")
        for p in self.rates:
            check_rate(p)
        for what, low in (("chips", 1), ("first_chip", 0), ("bins", 2)):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise BitrobustError(f"{what} must be an integer >= {low}, got {v!r}")
        check_weight_format(self.format, self.bits, self.scheme)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "test_subset": self.test_subset, "rates": [float(p) for p in self.rates],
               "chips": self.chips, "first_chip": self.first_chip, "bins": self.bins, "scheme": self.scheme,
               "bits": self.bits}
        if self.format is not None:  # only when set: earlier evaluations keep their directories
            out["format"] = self.format
        return out


@torch.no_grad()
def max_logits_and_confidences(model: nn.Module, data, task: Task | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(largest logit, max softmax probability) per example of ``data`` (batches split by ``task``, default
    classification: (x, y) or dict batches), on the CPU.

    >>> lin = nn.Linear(2, 3)
    >>> z, c = max_logits_and_confidences(lin, [(torch.ones(4, 2), torch.zeros(4))])
    >>> z.shape, bool(((c >= 1 / 3) & (c <= 1)).all())
    (torch.Size([4]), True)
    """
    device, task = model_device(model), task or Classification()
    zs, cs = [], []
    for batch in data:
        z = logits_of(run_batch(model, batch, task, device)[0]).float()
        zs.append(z.max(1).values.cpu())
        cs.append(torch.softmax(z, 1).max(1).values.cpu())
    return torch.cat(zs), torch.cat(cs)


def histogram(values: torch.Tensor, lo: float, hi: float, bins: int) -> dict:
    """Counts of the finite ``values`` on ``bins`` equal bins over [lo, hi] (the last bin closed), the number of
    non-finite ones apart, and their mean.

    >>> histogram(torch.tensor([0.0, 0.5, 1.0, float("nan")]), 0.0, 1.0, 2)
    {'edges': [0.0, 0.5, 1.0], 'counts': [1, 2], 'nonfinite': 1, 'mean': 0.5}
    """
    finite = values[torch.isfinite(values)].double()
    if hi <= lo:
        hi = lo + 1.0
    counts = torch.histc(finite, bins=bins, min=lo, max=hi) if finite.numel() else torch.zeros(bins)
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    return {"edges": edges, "counts": [int(c) for c in counts.tolist()], "nonfinite": int(values.numel() - finite.numel()),
            "mean": float(finite.mean()) if finite.numel() else None}


def logit_distributions(model: nn.Module, data, quantizer: Quantizer, rates, chips: int, first_chip: int = 0,
                        bins: int = BINS, exclude=(), task: Task | None = None) -> dict:
    """The result of the kind (module docstring) for ``model`` on ``data`` (batches split by ``task``) with its
    weights stored in ``quantizer`` (contract 1 fixed point or any registered number format); the model is given
    back unchanged."""
    with restored(model):
        model.eval()
        state = quantize_model(model, quantizer, exclude=exclude)
        load_tensors(model, state.dequantize())
        clean = max_logits_and_confidences(model, data, task)
        source = RandomChips(chips, first=first_chip)
        perturbed = []
        for p in rates:
            per_chip = []
            for c in range(chips):
                load_tensors(model, state.with_errors(source.errors(c, float(p))).dequantize())
                per_chip.append(max_logits_and_confidences(model, data, task))
            perturbed.append((float(p), torch.cat([z for z, _ in per_chip]), torch.cat([c for _, c in per_chip])))
    every = torch.cat([clean[0]] + [z for _, z, _ in perturbed])
    finite = every[torch.isfinite(every)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 1.0)
    name = format_name(quantizer)
    return {
        "n_examples": int(clean[0].numel()), "chips": chips, "first_chip": first_chip, "bits": quantizer.bits,
        **({"format": name} if name else {}),
        "clean": {"max_logit": histogram(clean[0], lo, hi, bins), "confidence": histogram(clean[1], 0.0, 1.0, bins)},
        "rates": [{"p": p, "max_logit": histogram(z, lo, hi, bins), "confidence": histogram(c, 0.0, 1.0, bins)}
                  for p, z, c in perturbed],
    }


@register_kind
class LogitsKind(EvalKind):
    name = "logits"
    result_file = "logits.json"

    settings_type = LogitsSettings

    def resolve(self, given: dict, recipe_eval: Mapping[str, Any]) -> dict:
        given.setdefault("chips", recipe_eval.get("chips") or LogitsSettings.chips)
        return given

    def run(self, run: LoadedRun, s: LogitsSettings, data_dir: str | os.PathLike | None = None,
            progress: bool = False, batch_size: int | None = None) -> Outcome:
        if run.task.name != "classification":
            raise BitrobustError(f"the logits kind histograms a classifier's [N, C] logits; this run's task is "
                                 f"{run.task.name} (use --kind random, which reports its error and perplexity)")
        quantizer, exclude = run.quantizer(s.bits, s.scheme, s.format)
        loader = run.test_data(data_dir, s.test_subset, self.batch_size(batch_size))
        result = logit_distributions(run.model, loader, quantizer, s.rates, s.chips, s.first_chip, s.bins, exclude,
                                     run.task)
        return Outcome(result, {"bits_used": quantizer.bits})

    def describe(self, s: LogitsSettings) -> str:
        rates = ",".join(f"{100 * p:g}%" for p in s.rates)
        stored = f" (format {s.format})" if s.format else ""
        return (f"logit and confidence distributions{stored}, clean and at p={rates} x {s.chips} chips"
                f"{on_test_set(s.test_subset)}")

    def summary(self, outcome: Outcome, s: LogitsSettings) -> str:
        r = outcome.result
        parts = [f"clean: mean max logit {r['clean']['max_logit']['mean']:.3g}, confidence "
                 f"{100 * r['clean']['confidence']['mean']:.1f}%"]
        for rate in r["rates"]:
            conf = rate["confidence"]["mean"]
            parts.append(f"p={100 * rate['p']:g}%: confidence {'-' if conf is None else f'{100 * conf:.1f}%'}")
        return "; ".join(parts)

    def passes(self, s: LogitsSettings) -> float:
        return 1 + s.chips * len(s.rates)
