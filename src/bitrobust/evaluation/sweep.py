"""The RErr sweeps: robust test error over rates and trials (paper 3, Sec. 5; contract 3).

Four evaluation kinds share one shape -- quantize the run's weights, inject errors trial by
trial, one pass over the test set each -- and differ only in where the errors come from:

- ``random``: persistent random chips ``first_chip, first_chip + 1, ...`` (a single chip is a
  fixed pattern, paper 3 Tab. 3);
- ``transient``: fresh i.i.d. flips per trial (papers 1, 2);
- ``profiled``: a profiled chip map read at several weight-to-memory offsets (App. C.1, G.5):
  a map file, or a synthetic chip with the statistics of a row of App. C.1's table; optionally
  only its persistent errors (Tab. 16); the chip fixes its own rate p;
- ``linf``: uniform weight noise relative to each tensor's range (App. G.3, Fig. 9); the
  "rates" are the noise sizes eps.

Options shared by all: another precision, scheme or number format (``format``, contract 5) than
training's (post-training quantization), batch statistics at test time (``batch_stats``, Tab. 10), scaling the
conv/linear weights so their largest magnitude is ``scale_to`` before quantizing (Tab. 11), and -- for the
bit-error kinds -- protection and targeting with SECDED ECC (contract 6: ``protect_bits``, ``protect_tensors``,
``target_tensors``, ``target_bits``, ``expose_metadata``, ``ecc``, ``ecc_policy``; unset ones come from the run's
recipe's ``eval`` section).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from bitrobust.bit_errors import check_rate
from bitrobust.bit_errors.profiled import chip_offsets, load_chip
from bitrobust.bit_errors.protection import PROTECTION_FIELDS, Protection, protection_from
from bitrobust.bit_errors.synthetic import PAPER_CHIPS, paper_chip
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.kind import EvalKind, Outcome, on_test_set, register_kind
from bitrobust.evaluation.linf import evaluate_linf_noise
from bitrobust.evaluation.robustness import RERR_DEFINITIONS, RobustnessResult, evaluate_robustness
from bitrobust.evaluation.run import LoadedRun, check_weight_format
from bitrobust.evaluation.sources import ProfiledOffsets, RandomChips, TransientReads

DEFAULT_RATES = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.15)
DEFAULT_CHIPS = 50


def _count(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BitrobustError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True)
class SweepOptions:
    """How the weights are put in memory for a sweep and how it is scored (see the module docstring):
    ``rerr`` plain or official (:data:`~bitrobust.evaluation.robustness.RERR_DEFINITIONS`), and
    ``test_first`` evaluates on the first n test examples (as paper 3's reference code does with 9,000)."""

    scheme: str | None = None
    bits: int | None = None
    batch_stats: bool = False
    scale_to: float | None = None
    rerr: str = "plain"
    test_first: int | None = None
    format: str | None = None  # a number format (bitrobust.formats) instead of bits/scheme
    # protection and targeting (contract 6; bitrobust.bit_errors.protection.Protection's fields)
    protect_bits: str | None = None
    protect_tensors: tuple[str, ...] = ()
    target_tensors: tuple[str, ...] = ()
    target_bits: str | None = None
    expose_metadata: bool = False
    ecc: str | None = None
    ecc_policy: str = "keep"

    def protection(self) -> Protection:
        """The protection settings as one :class:`Protection`."""
        return protection_from({k: getattr(self, k) for k in PROTECTION_FIELDS})

    def check_options(self) -> None:
        protection = self.protection()  # checks the names; the canonical spellings go back into the settings
        for name in PROTECTION_FIELDS:
            object.__setattr__(self, name, getattr(protection, name))
        check_weight_format(self.format, self.bits, self.scheme)
        if self.rerr not in RERR_DEFINITIONS:
            raise BitrobustError(f"unknown RErr definition {self.rerr!r}; valid: {', '.join(RERR_DEFINITIONS)}")
        if self.test_first is not None:
            _count(self.test_first, "the number of first test examples")
            if self.test_subset:  # every sweep's settings have test_subset
                raise BitrobustError("choose a stratified test subset or the first test examples, not both")

    def options_dict(self) -> dict:
        """The options that differ from their defaults (so plain settings keep the keys and hashes they had)."""
        out: dict = {"scheme": self.scheme, "bits": self.bits}
        if self.batch_stats:
            out["batch_stats"] = True
        if self.scale_to is not None:
            out["scale_to"] = float(self.scale_to)
        if self.rerr != "plain":
            out["rerr"] = self.rerr
        if self.test_first is not None:
            out["test_first"] = self.test_first
        if self.format is not None:
            out["format"] = self.format
        return {**out, **self.protection().to_dict()}


def recipe_protection(recipe_eval: Mapping[str, Any]) -> dict:
    """The protection settings a run's recipe sets in its ``eval`` section (defaults of unset ones).

    >>> recipe_protection({"rates": [0.01], "ecc": "secded64"})
    {'ecc': 'secded64'}
    """
    return {k: recipe_eval[k] for k in PROTECTION_FIELDS if recipe_eval.get(k) is not None}


@dataclass(frozen=True)
class SweepSettings(SweepOptions):
    """``random``, ``transient`` or ``linf``: ``rates`` x ``chips`` trials (``first_chip``: the first chip
    number, or the seed of the transient reads; linf always starts at 0)."""

    kind: str = "random"
    rates: tuple[float, ...] = ()
    chips: int = 10
    first_chip: int = 0
    test_subset: int | None = None

    def __post_init__(self) -> None:
        self.check_options()
        if not self.rates:
            raise BitrobustError("no bit error rates given")
        for p in self.rates:
            check_rate(p)
        _count(self.chips, "the number of chips")
        _count(self.first_chip, "the first chip", 0)
        if self.kind == "linf" and self.first_chip:
            raise BitrobustError("linf noise has no chips to start from (first_chip must be 0)")
        if self.kind == "linf" and self.format is not None:
            raise BitrobustError("linf noise is relative to a per-tensor fixed-point range: use --bits/--scheme, "
                                 "not a number format")
        if self.kind == "linf" and self.rerr != "plain":
            raise BitrobustError("the official RErr definition applies to bit errors, not to linf noise")
        if self.kind == "linf" and not self.protection().is_default:
            raise BitrobustError("protection, targeting and ECC apply to bit errors, not to linf noise")

    def to_dict(self) -> dict:
        out: dict = {"kind": self.kind, "test_subset": self.test_subset, "rates": [float(p) for p in self.rates],
                     "chips": int(self.chips)}
        if self.kind != "linf":
            out["first_chip"] = self.first_chip
        return {**out, **self.options_dict()}


@dataclass(frozen=True)
class ProfiledSettings(SweepOptions):
    """``profiled``: chip ``chip`` (a row of App. C.1, synthesized with ``chip_seed``) or the map file
    ``chip_file``, read at ``offsets`` offsets; ``persistent`` keeps only the always-flipping cells."""

    kind: str = "profiled"
    chip: str | None = None
    chip_file: str | None = None
    chip_seed: int = 0
    offsets: int = 10
    persistent: bool = False
    test_subset: int | None = None

    def __post_init__(self) -> None:
        self.check_options()
        if (self.chip is None) == (self.chip_file is None):
            raise BitrobustError("a profiled evaluation needs a chip: a row of App. C.1 ("
                                 + ", ".join(PAPER_CHIPS) + ") or a chip map file")
        if self.chip is not None and self.chip not in PAPER_CHIPS:
            raise BitrobustError(f"unknown profiled chip {self.chip!r}; valid: {', '.join(PAPER_CHIPS)} or a "
                                 ".npy/.npz chip map file")
        _count(self.offsets, "the number of offsets")

    def to_dict(self) -> dict:
        out: dict = {"kind": self.kind, "test_subset": self.test_subset, **self.options_dict()}
        if self.persistent:
            out["persistent"] = True
        if self.chip_file is not None:
            return {**out, "chip_file": self.chip_file, "offsets": self.offsets}
        return {**out, "chip": self.chip, "chip_seed": self.chip_seed, "offsets": self.offsets}

    def source(self) -> ProfiledOffsets:
        chip = load_chip(self.chip_file) if self.chip_file is not None else paper_chip(self.chip, seed=self.chip_seed)
        if self.persistent:
            chip = chip.persistent()
        return ProfiledOffsets(chip, tuple(chip_offsets(chip, self.offsets)))


@torch.no_grad()
def scale_weights(model: nn.Module, target: float) -> float:
    """Scale every conv/linear weight and bias by s so that their largest magnitude is ``target``; returns s.

    A conv followed by group/batch norm computes the same normalized output for s*W, s*b,
    and scaling the last linear layer only scales the logits, so for such models the
    predictions are unchanged (paper 3, Tab. 11: RQUANT -> CLIPPING_0.25).

    >>> lin = nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[0.5, -2.0]])); _ = lin.bias.fill_(1.0)
    >>> scale_weights(lin, 0.25), lin.weight.tolist()
    (0.125, [[0.0625, -0.25]])
    """
    params = [p for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) for p in m.parameters(recurse=False)]
    if not params:
        raise BitrobustError("the model has no conv or linear layers to scale")
    largest = max(float(p.abs().max()) for p in params)
    if largest == 0:
        raise BitrobustError("all conv/linear weights are zero; cannot scale them")
    s = float(target) / largest
    for p in params:
        p.mul_(s)
    return s


def _chip_stats(chip) -> dict:
    """App. C.1's rates, the faulty-cell rate and the measured effective flip rate on random data (about p / 2)."""
    st = chip.stats()
    keys = ("p", "p_0t1", "p_1t0", "p_sa", "faulty")
    return {**{key: float(getattr(st, key)) for key in keys if hasattr(st, key)}, "flip_rate": chip.flip_rate()}


class _Sweep(EvalKind):
    """Shared run/describe/summary of the sweep kinds."""

    unit = "chip"
    symbol = "p"  # what the rates are
    bit_errors = True  # protection and ECC apply (a recipe's eval section sets their defaults)

    settings_type = SweepSettings

    def resolve(self, given: dict, recipe_eval: Mapping[str, Any]) -> dict:
        rates, chips = given.pop("rates", None), given.pop("chips", None)  # given ones are checked, even if bad
        rates = (recipe_eval.get("rates") or DEFAULT_RATES) if rates is None else rates
        chips = (recipe_eval.get("chips") or DEFAULT_CHIPS) if chips is None else chips
        return {"kind": self.name, "rates": tuple(float(p) for p in rates), "chips": chips,
                **(recipe_protection(recipe_eval) if self.bit_errors else {}), **given}

    def source(self, s, info: dict):
        """Where the errors come from (may record facts about it in ``info``)."""
        raise NotImplementedError

    def rates(self, s, source) -> list[float]:
        return list(s.rates)

    def check(self, run: LoadedRun, s) -> None:
        """Check the settings against the loaded model, before any data is read (hook)."""

    def run(self, run: LoadedRun, s, data_dir: str | os.PathLike | None = None, progress: bool = False,
            batch_size: int | None = None) -> Outcome:
        self.check(run, s)
        quantizer, exclude = run.quantizer(s.bits, s.scheme, s.format)
        loader = run.test_data(data_dir, s.test_subset, self.batch_size(batch_size), s.test_first)
        info: dict = {}
        if s.scale_to is not None:
            info["err_before_scaling"] = evaluate_robustness(run.model, loader, quantizer, [], RandomChips(1),
                                                             exclude=exclude, task=run.task).err
            info["scale_factor"] = scale_weights(run.model, s.scale_to)
        result = self.sweep(run, s, loader, quantizer, exclude, info, progress, data_dir)
        result = dataclasses.replace(result, test_set=run.test_set_label(s.test_subset, s.test_first))
        info.update(scheme_used=result.scheme, bits_used=result.bits)
        if result.format is not None:
            info["format_used"] = result.format
        return Outcome(result.to_dict(), info, result)

    def sweep(self, run, s, loader, quantizer, exclude, info, progress, data_dir=None) -> RobustnessResult:
        source = self.source(s, info)
        return evaluate_robustness(run.model, loader, quantizer, self.rates(s, source), source, exclude=exclude,
                                   progress=progress, batch_stats=s.batch_stats, rerr=s.rerr, task=run.task,
                                   protection=s.protection())

    def describe(self, s) -> str:
        return self.what(s) + _quant_text(s) + on_test_set(s.test_subset)

    def what(self, s) -> str:
        rates = ",".join(f"{100 * p:g}%" for p in s.rates)
        first = f" from chip {s.first_chip}" if s.first_chip else ""
        unit = self.unit + ("s" if s.chips != 1 else "")
        return f"{self.name} {self.symbol}={rates} x {s.chips} {unit}{first}"

    def summary(self, outcome: Outcome, s) -> str:
        result = outcome.native or RobustnessResult.from_dict(outcome.result)
        text = ", ".join([f"Err {100 * result.err:.2f}%"] + [f"{self.symbol}={100 * r.p:.3g}%: {100 * r.mean:.2f}%"
                                                            for r in result.rates if r.p > 0])
        if result.perplexity is None:
            return text
        return text + "; perplexity " + ", ".join([f"clean {result.perplexity:.4g}"] + [
            f"{self.symbol}={100 * r.p:.3g}%: {r.summary()['perplexity_mean']:.4g}" for r in result.rates if r.p > 0])

    def passes(self, s) -> float:
        return 1 + s.chips * len([p for p in s.rates if p > 0])


def _quant_text(s) -> str:
    parts = (("format", f"format {s.format}"), ("scheme", f"scheme {s.scheme}"), ("bits", f"m={s.bits}"),
             ("batch_stats", "batch statistics"),
             ("scale_to", f"scaled to {s.scale_to}"), ("test_first", f"first {s.test_first} test images"))
    official = ", official RErr (clean or perturbed wrong)" if s.rerr == "official" else ""
    protection = "".join(f", {k.replace('_', ' ')} {v if not isinstance(v, list) else ','.join(v)}"
                         for k, v in s.protection().to_dict().items())
    return "".join(f", {label}" for key, label in parts if getattr(s, key)) + official + protection


@register_kind
class RandomKind(_Sweep):
    name = "random"

    def source(self, s, info: dict) -> RandomChips:
        return RandomChips(s.chips, first=s.first_chip)


@register_kind
class TransientKind(_Sweep):
    name = "transient"
    unit = "read"

    def source(self, s, info: dict) -> TransientReads:
        return TransientReads(s.chips, seed=s.first_chip)


@register_kind
class LinfKind(_Sweep):
    name = "linf"
    unit = "trial"
    symbol = "eps"
    bit_errors = False

    def sweep(self, run, s, loader, quantizer, exclude, info, progress, data_dir=None) -> RobustnessResult:
        return evaluate_linf_noise(run.model, loader, quantizer, list(s.rates), s.chips, exclude=exclude, task=run.task)

    def passes(self, s) -> float:
        return 1 + s.chips * len(s.rates)


@register_kind
class ProfiledKind(_Sweep):
    name = "profiled"

    settings_type = ProfiledSettings

    def resolve(self, given: dict, recipe_eval: Mapping[str, Any]) -> dict:
        return {**recipe_protection(recipe_eval), **given}  # the chip fixes its own rate; no rates or chips

    def source(self, s, info: dict) -> ProfiledOffsets:
        source = s.source()
        label = s.chip if s.chip is not None else s.chip_file
        info["chip_stats"] = {"name": label, "label": source.chip.name, **_chip_stats(source.chip)}
        return source

    def rates(self, s, source) -> list[float]:
        return [source.rate]  # the chip fixes its own rate

    def what(self, s) -> str:
        persistent = ", persistent errors only" if s.persistent else ""
        return f"profiled chip {s.chip or s.chip_file} x {s.offsets} offsets{persistent}"

    def passes(self, s) -> float:
        return 1 + s.offsets
