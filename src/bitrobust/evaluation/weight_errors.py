"""The ``weight_errors`` evaluation kind: original vs perturbed weights under random bit errors (paper 3, Fig. 4).

Fig. 4 of Stutz, Chandramoorthy, Hein, Schiele, "Bit Error Robustness for Energy-Efficient DNN
Accelerators" (MLSys 2021) plots each weight against its value read back from a faulty
memory: the quantized words v_i = Q(w_i) with bit errors of persistent chip c at rate p
(contract 2), decoded as w~_i = Q^-1(v~_i), coloured by the absolute error |w~_i - Q^-1(v_i)|.
A flip of the most significant bit moves a weight by about half its quantization range
(q_max for symmetric ranges), a flip of the least significant bit by Delta (Sec. 3, 4.1).
No forward pass is needed. The words may also be stored in any registered number format
(``format``, :mod:`bitrobust.formats`: per-channel/group integers, bf16, fp8; contract 5), where
one flip of an exponent bit can make a weight infinite or NaN: such words are counted apart
(``nonfinite``) and left out of the error statistics. The result keeps a seeded uniform sample of the words (their
layout indices, original float weights, clean and perturbed dequantized values) and, over
all words, the fraction changed and the mean and largest absolute errors, also relative
to the model's largest weight magnitude (the scale the paper's colour bar ends at).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import torch

from bitrobust.bit_errors import check_rate
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.kind import EvalKind, Outcome, register_kind
from bitrobust.evaluation.run import LoadedRun, check_weight_format
from bitrobust.evaluation.sources import RandomChips
from bitrobust.formats import format_name
from bitrobust.quantization import FixedPointQuantizer
from bitrobust.quantization.model import Quantizer, quantizable_tensors, quantize_tensors

FIG4_RATE = 0.025  # p = 2.5 % (Fig. 4)
SAMPLE = 10000


@dataclass(frozen=True)
class WeightErrorsSettings:
    """Bit errors of chip ``first_chip`` at each of ``rates`` in the weights quantized with ``scheme``/``bits``
    or stored in the number format ``format`` (default: training's); ``sample`` words are kept for the scatter
    plot (seed ``sample_seed``)."""

    rates: tuple[float, ...] = (FIG4_RATE,)
    first_chip: int = 0
    sample: int = SAMPLE
    sample_seed: int = 0
    scheme: str | None = None
    bits: int | None = None
    test_subset: int | None = None  # unused (no forward pass); every kind has it
    format: str | None = None
    kind: str = "weight_errors"

    def __post_init__(self) -> None:
        if not self.rates:
            raise BitrobustError("no bit error rates given")
        for p in self.rates:
            check_rate(p)
        for what in ("first_chip", "sample", "sample_seed"):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if what == "sample" else 0):
                raise BitrobustError(f"{what} must be an integer >= {1 if what == 'sample' else 0}, got {v!r}")
        check_weight_format(self.format, self.bits, self.scheme)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "rates": [float(p) for p in self.rates], "first_chip": self.first_chip,
               "sample": self.sample, "sample_seed": self.sample_seed, "scheme": self.scheme, "bits": self.bits}
        if self.format is not None:  # only when set: earlier evaluations keep their directories
            out["format"] = self.format
        return out


def _round(t: torch.Tensor) -> list[float | None]:
    """6 significant digits; non-finite values as None (JSON null).

    >>> _round(torch.tensor([1 / 3, float("inf")]))
    [0.333333, None]
    """
    return [float(f"{x:.6g}") if math.isfinite(x) else None for x in t.tolist()]


@torch.no_grad()
def weight_errors(weights: dict[str, torch.Tensor], quantizer: Quantizer, rates, chip: int = 0,
                  sample: int = SAMPLE, sample_seed: int = 0) -> dict:
    """Original, clean quantized and perturbed weights of named tensors (module docstring), stored by
    ``quantizer`` (contract 1 fixed point or a registered number format).

    >>> w = {"w": torch.linspace(-1, 1, 200)}
    >>> r = weight_errors(w, FixedPointQuantizer(8), [0.025], sample=50)
    >>> len(r["index"]), r["rates"][0]["p"], 0 < r["rates"][0]["changed"] < 0.5
    (50, 0.025, True)
    """
    state = quantize_tensors(weights, quantizer)
    names = list(state.tensors)
    original = torch.cat([weights[n].detach().float().reshape(-1).cpu() for n in names])
    clean = torch.cat([state.tensors[n].dequantize().float().reshape(-1).cpu() for n in names])
    n = clean.numel()
    if n == 0:
        raise BitrobustError("the model has no quantized weights")
    g = torch.Generator().manual_seed(sample_seed)
    index = torch.sort(torch.randperm(n, generator=g)[: min(sample, n)]).values
    tensor_of = torch.cat([torch.full((state.tensors[nm].codes.numel(),), i) for i, nm in enumerate(names)])
    largest = float(clean.abs().max())
    out_rates = []
    for p in rates:
        perturbed_state = state.with_errors(RandomChips(1, first=chip).errors(0, float(p)))
        perturbed = torch.cat([perturbed_state.tensors[nm].dequantize().float().reshape(-1).cpu() for nm in names])
        finite = torch.isfinite(perturbed)
        changed = ~finite | (perturbed != clean)
        err = (perturbed.double() - clean.double())[finite].abs()  # float32 sums of bf16 errors overflow
        mean = float(err.mean()) if err.numel() else 0.0
        out_rates.append({
            "p": float(p), "perturbed": _round(perturbed[index]),
            "changed": float(changed.float().mean()), "nonfinite": int((~finite).sum()),
            "mean_abs_error": mean, "max_abs_error": float(err.max()) if err.numel() else 0.0,
            "mean_abs_error_changed": float(err[err > 0].mean()) if bool((err > 0).any()) else 0.0,
            "mean_relative_error": mean / largest if largest > 0 else 0.0,
        })
    name = format_name(quantizer)
    return {
        "bits": quantizer.bits, **({"format": name} if name else {"scheme": asdict(quantizer.scheme)}),
        "chip": chip, "n_weights": n, "max_abs": largest, "tensors": names,
        "index": index.tolist(), "tensor": tensor_of[index].tolist(),
        "original": _round(original[index]), "quantized": _round(clean[index]), "rates": out_rates,
    }


@register_kind
class WeightErrorsKind(EvalKind):
    name = "weight_errors"
    result_file = "weight_errors.json"

    settings_type = WeightErrorsSettings

    def run(self, run: LoadedRun, s: WeightErrorsSettings, data_dir: str | os.PathLike | None = None,
            progress: bool = False, batch_size: int | None = None) -> Outcome:
        quantizer, exclude = run.quantizer(s.bits, s.scheme, s.format)
        weights = quantizable_tensors(run.model, exclude)
        result = weight_errors(weights, quantizer, s.rates, s.first_chip, s.sample, s.sample_seed)
        return Outcome(result, {"bits_used": quantizer.bits})

    def describe(self, s: WeightErrorsSettings) -> str:
        rates = ",".join(f"{100 * p:g}%" for p in s.rates)
        extra = "".join(f", {label}" for key, label in (("scheme", f"scheme {s.scheme}"), ("bits", f"m={s.bits}"),
                                                        ("format", f"format {s.format}")) if getattr(s, key))
        return f"weights with bit errors of chip {s.first_chip} at p={rates}{extra} ({s.sample} sampled)"

    def summary(self, outcome: Outcome, s: WeightErrorsSettings) -> str:
        return ", ".join(f"p={100 * r['p']:g}%: {100 * r['changed']:.1f}% of the weights changed, mean abs error "
                         f"{r['mean_abs_error']:.3g}" for r in outcome.result["rates"])

    def passes(self, s: WeightErrorsSettings) -> float:
        return 0.0  # no forward pass
