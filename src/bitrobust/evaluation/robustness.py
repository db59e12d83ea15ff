"""Robust test error under bit errors in the quantized weights (paper 3, Sec. 5; contract 3).

Err is the test error with the clean quantized weights; RErr(p) is the test error with
a chip's bit errors at rate p injected into the words, averaged over chips (mean, std,
min, max), together with the mean confidence (max softmax probability) on clean and
perturbed weights. A task with a log-likelihood (a causal LM, contract 7) also gets its
perplexity, clean and per (chip, p), with the same statistics over chips. A :class:`Protection` (contract 6)
decides which stored bits may read wrong and adds SECDED ECC; with ECC the corrected and
detected-uncorrectable codewords are counted per (chip, p).
Per (chip, p) the cost is one forward pass over the test set plus
flipping the faulty bits and dequantizing, so injection adds little to the floor.
With ``torch.distributed`` initialized, chips are sharded across ranks and gathered.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ContextManager, Iterable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from bitrobust.bit_errors import check_rate
from bitrobust.bit_errors.ecc import EccCounts
from bitrobust.bit_errors.protection import ProtectedMemory, Protection
from bitrobust.console import bar_disable
from bitrobust.device import model_device
from bitrobust.errors import BitrobustError
from bitrobust.nn.norm import ReparameterizedBatchNorm
from bitrobust.evaluation.sources import ErrorSource, RandomChips, TransientReads
from bitrobust.formats import format_name
from bitrobust.quantization import FixedPointQuantizer, QuantizedState, load_tensors, quantize_model, restored
from bitrobust.quantization.model import ErrorModel, Quantizer
from bitrobust.tasks import Classification, Task, run_batch

Batches = Iterable[Any]  # (inputs, targets) pairs or dicts, re-iterable (contract 7)


RERR_DEFINITIONS = ("plain", "official")
"""plain: the perturbed model's error (paper 3's text, the default); official: an example counts as
wrong if the clean OR the perturbed model gets it wrong, as the paper's reference code computes the
numbers of its tables."""


@dataclass(frozen=True)
class PassResult:
    """One pass over the test set: error rate and mean confidence (``correct``: per prediction, when kept);
    ``nonfinite``: the fraction of predictions whose outputs were not finite (counted as wrong); ``nll``: the
    summed negative log-likelihood, for tasks that have one."""

    error: float
    confidence: float
    n: int
    correct: torch.Tensor | None = field(default=None, compare=False, repr=False)
    nonfinite: float = 0.0
    nll: float | None = None

    @property
    def perplexity(self) -> float | None:
        """exp(NLL / n): the perplexity over the whole pass (None without a log-likelihood)."""
        if self.nll is None:
            return None
        mean = self.nll / self.n
        return math.exp(mean) if mean < 709.0 else math.inf  # exp overflows a float beyond ~709.78


def check_reiterable(data: Batches) -> None:
    """Evaluation passes over ``data`` once per (chip, p): a one-shot iterator would be empty after the first."""
    if iter(data) is data:  # type: ignore[call-overload]
        raise BitrobustError("the evaluation data must be re-iterable (a list, a torch DataLoader, a "
                             "bitrobust.data.Loader ...), not a one-shot iterator or generator")


@torch.inference_mode()
def evaluate_pass(model: nn.Module, data: Batches, task: Task | None = None, *, keep_correct: bool = False,
                  also_wrong: torch.Tensor | None = None) -> PassResult:
    """The ``task``'s error (default: classification) and mean confidence of ``model`` (as it is, e.g. in
    eval mode) over ``data``; batches move to the model's device. ``keep_correct`` keeps which predictions
    were right; ``also_wrong`` (a boolean per prediction) counts those as wrong in any case.

    >>> model = nn.Linear(2, 2)
    >>> batches = [(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))]
    >>> evaluate_pass(model, batches).n
    1
    """
    task = task or Classification()
    device = model_device(model)
    wrong, conf, n, kept, nonfinite, nll = 0, 0.0, 0, [], 0, 0.0
    for batch in data:
        output, targets = run_batch(model, batch, task, device)
        score = task.score(output, targets)
        if also_wrong is not None or keep_correct:
            if score.correct is None:
                raise BitrobustError(f"the {task.name} task does not say which predictions are right")
            right = score.correct.reshape(-1).cpu()
            if also_wrong is not None:
                right = right & ~also_wrong[n: n + score.count]
                wrong += int(score.count - right.sum())
            else:
                wrong += score.wrong
            kept.append(right)
        else:
            wrong += score.wrong
        conf += score.confidence
        n += score.count
        nonfinite += score.nonfinite
        nll = None if score.nll is None or nll is None else nll + score.nll
    if n == 0:
        raise BitrobustError("the evaluation data is empty (no batch, or no target to score)")
    if also_wrong is not None and n != len(also_wrong):
        raise BitrobustError(f"the data changed between passes ({len(also_wrong)} predictions, then {n})")
    return PassResult(wrong / n, conf / n, n, torch.cat(kept) if keep_correct else None, nonfinite / n, nll)


def chip_stats(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, population std, min, max) of per-chip values (an infinite value makes mean and std inf).

    >>> chip_stats([0.1, 0.3])
    (0.2, 0.09999999999999999, 0.1, 0.3)
    """
    mean = sum(values) / len(values)
    # d * d, not d ** 2: a huge finite perplexity (a flipped float exponent) squares to inf, not OverflowError
    std = math.inf if math.isinf(mean) else math.sqrt(sum((v - mean) * (v - mean) for v in values) / len(values))
    return mean, std, min(values), max(values)


@dataclass(frozen=True)
class RateResult:
    """RErr at one rate p over all trials (chips); ``nonfinite``: per trial, the fraction of examples whose
    outputs were inf/NaN (e.g. a flipped float exponent; they count as wrong); ``perplexity``: per trial, for
    an LM (else empty); ``ecc_corrected``/``ecc_detected``: per trial, the codewords SECDED ECC corrected and
    detected as uncorrectable (empty without ECC)."""

    p: float
    rerr: tuple[float, ...]
    confidence: tuple[float, ...]
    nonfinite: tuple[float, ...] = ()  # () = none: zeros, one per trial
    perplexity: tuple[float, ...] = ()
    ecc_corrected: tuple[int, ...] = ()
    ecc_detected: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.nonfinite:
            object.__setattr__(self, "nonfinite", (0.0,) * len(self.rerr))

    @property
    def mean(self) -> float:
        return chip_stats(self.rerr)[0]

    @property
    def std(self) -> float:
        return chip_stats(self.rerr)[1]

    @property
    def min(self) -> float:
        return min(self.rerr)

    @property
    def max(self) -> float:
        return max(self.rerr)

    @property
    def mean_confidence(self) -> float:
        return sum(self.confidence) / len(self.confidence)

    def summary(self) -> dict:
        out = {
            "p": self.p,
            "rerr_mean": self.mean,
            "rerr_std": self.std,
            "rerr_min": self.min,
            "rerr_max": self.max,
            "confidence_mean": self.mean_confidence,
        }
        if self.perplexity:
            out.update(zip(("perplexity_mean", "perplexity_std", "perplexity_min", "perplexity_max"),
                           chip_stats(self.perplexity)))
        if self.ecc_corrected:
            out["ecc_corrected_mean"] = sum(self.ecc_corrected) / len(self.ecc_corrected)
            out["ecc_detected_mean"] = sum(self.ecc_detected) / len(self.ecc_detected)
        return out


@dataclass(frozen=True)
class RobustnessResult:
    """Err, clean confidence and RErr per rate (fractions in [0, 1], not %); for an LM also the clean
    ``perplexity`` (and each rate's per chip); ``protection``: the non-default protection settings
    (:meth:`Protection.to_dict`), ``ecc_codewords``: codewords per read with ECC (else None)."""

    err: float
    confidence: float
    n_examples: int
    source: str
    trials: int
    bits: int
    scheme: dict
    rates: tuple[RateResult, ...] = field(default_factory=tuple)
    rerr_definition: str = "plain"  # see RERR_DEFINITIONS
    format: str | None = None  # a bitrobust.formats name; None: contract 1's fixed point (bits, scheme)
    perplexity: float | None = None
    first_chip: int | None = None  # first random chip, or the seed of transient reads (None: not recorded)
    test_set: str | None = None  # which test examples, e.g. "mnist test, stratified 2000" (None: not recorded)
    protection: dict = field(default_factory=dict)
    ecc_codewords: int | None = None

    def pairing_key(self) -> tuple:
        """What two results must share to be paired chip by chip (contract 8): the same error source and
        trials from the same first chip, the same test examples and the same RErr definition."""
        return (self.source, self.trials, self.first_chip, self.n_examples, self.test_set, self.rerr_definition)

    def rate(self, p: float) -> RateResult:
        """The result at rate ``p`` (compared with a relative tolerance of 1e-9, so 0.1 + 0.2 finds 0.3)."""
        for r in self.rates:
            if math.isclose(r.p, p, rel_tol=1e-9, abs_tol=1e-15):
                return r
        raise KeyError(f"no result at p = {p}; rates: {', '.join(f'{r.p:g}' for r in self.rates)}")

    def to_dict(self) -> dict:
        optional = ("rerr_definition", "format", "perplexity", "first_chip", "test_set", "protection", "ecc_codewords")
        out = {k: v for k, v in asdict(self).items() if k not in ("rates",) + optional}
        if self.rerr_definition != "plain":  # plain results keep their files as they were
            out["rerr_definition"] = self.rerr_definition
        # so do results without these (no format, log-likelihood, recorded chips, protection or ECC)
        out.update({k: getattr(self, k) for k in optional[1:] if getattr(self, k) not in (None, {})})
        # non-finite fractions: always for formats, else only when some output was inf/NaN
        show = self.format is not None or any(any(r.nonfinite) for r in self.rates)
        out["rates"] = [dict(r.summary(), rerr=list(r.rerr), confidence=list(r.confidence),
                             **({"nonfinite": list(r.nonfinite)} if show else {}),
                             **({"perplexity": list(r.perplexity)} if r.perplexity else {}),
                             **({"ecc_corrected": list(r.ecc_corrected), "ecc_detected": list(r.ecc_detected)}
                                if r.ecc_corrected else {})) for r in self.rates]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "RobustnessResult":
        rates = tuple(RateResult(r["p"], tuple(r["rerr"]), tuple(r["confidence"]), nonfinite=tuple(r.get("nonfinite", ())),
                                 perplexity=tuple(r.get("perplexity", ())), ecc_corrected=tuple(r.get("ecc_corrected", ())),
                                 ecc_detected=tuple(r.get("ecc_detected", ()))) for r in d["rates"])
        keys = ("err", "confidence", "n_examples", "source", "trials", "bits", "scheme")
        return cls(**{k: d[k] for k in keys}, rates=rates, rerr_definition=d.get("rerr_definition", "plain"),
                   format=d.get("format"), perplexity=d.get("perplexity"), first_chip=d.get("first_chip"),
                   test_set=d.get("test_set"), protection=d.get("protection", {}), ecc_codewords=d.get("ecc_codewords"))


def _trials_of_this_rank(trials: int) -> list[int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        return list(range(rank, trials, world))
    return list(range(trials))


def _gather(local: dict) -> dict:
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return local
    parts: list = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, local)
    merged: dict = {}
    for part in parts:
        merged.update(part)
    return merged


def perturbed_pass(model: nn.Module, memory: QuantizedState | ProtectedMemory, errors: ErrorModel, data: Batches,
                   task: Task | None = None, also_wrong: torch.Tensor | None = None
                   ) -> tuple[PassResult, EccCounts | None]:
    """Read the words through ``errors`` (and the memory's protection), load the dequantized weights, run one
    pass; returns the pass and the ECC counts of the read (None without ECC)."""
    memory = memory if isinstance(memory, ProtectedMemory) else ProtectedMemory(memory)
    state, ecc = memory.read(errors)
    load_tensors(model, state.dequantize())
    return evaluate_pass(model, data, task, also_wrong=also_wrong), ecc


def evaluate_robustness(
    model: nn.Module,
    data: Batches,
    quantizer: Quantizer,
    rates: Sequence[float],
    chips: int | ErrorSource = 50,
    *,
    exclude: Iterable[str] = (),
    progress: bool = False,
    batch_stats: bool = False,
    task: Task | None = None,
    rerr: str = "plain",
    reads: Callable[[int | None, float], ContextManager] | None = None,
    protection: Protection | None = None,
) -> RobustnessResult:
    """Err and RErr(p) of ``model`` on ``data`` for each rate (see module docstring).

    ``quantizer`` is a contract-1 FixedPointQuantizer or any number format of :mod:`bitrobust.formats`
    (e.g. ``get_format("bf16")``). ``chips`` is the number of default persistent chips, or any error source (e.g.
    :class:`~bitrobust.evaluation.sources.TransientReads` or profiled chips). The
    model's own weights are restored afterwards. ``batch_stats=True`` keeps batch norm
    layers in training mode, so they normalize with the statistics of each test batch
    instead of the accumulated ones (paper 3, Tab. 10 bottom); their running statistics
    are restored afterwards. ``data`` is any re-iterable of batches -- ``(inputs, targets)`` pairs or
    dicts, e.g. a torch ``DataLoader`` -- moved to the model's device and scored by ``task``
    (default: classification; see :mod:`bitrobust.tasks`). ``rerr="official"`` counts an example as
    wrong under bit errors if the clean or the perturbed model gets it wrong (``RERR_DEFINITIONS``).
    ``protection`` (:class:`~bitrobust.bit_errors.protection.Protection`, contract 6) protects or targets bits and
    tensors, exposes the metadata or adds SECDED ECC; it is checked against the quantized model before any pass.

    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> batches = [(torch.randn(16, 4, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 2)]
    >>> result = evaluate_robustness(model, batches, FixedPointQuantizer(8), rates=[0.01, 0.1], chips=3)
    >>> len(result.rate(0.1).rerr)
    3
    """
    source = RandomChips(chips) if isinstance(chips, int) else chips
    rates = [check_rate(p) for p in rates]
    if rerr not in RERR_DEFINITIONS:
        raise BitrobustError(f"unknown RErr definition {rerr!r}; valid: {', '.join(RERR_DEFINITIONS)}")
    check_reiterable(data)
    with restored(model):
        model.eval()
        if batch_stats:
            _batch_norms_in_training_mode(model)
        state = quantize_model(model, quantizer, exclude=exclude)
        memory = ProtectedMemory(state, protection)
        load_tensors(model, state.dequantize())
        around = reads or (lambda trial, p: contextlib.nullcontext())
        with around(None, 0.0):
            clean = evaluate_pass(model, data, task, keep_correct=rerr == "official")
        also_wrong = None if clean.correct is None else ~clean.correct
        clean_only = PassResult(clean.error, clean.confidence, clean.n, nonfinite=clean.nonfinite, nll=clean.nll)
        jobs = [(t, p) for t in _trials_of_this_rank(source.trials) for p in rates]
        local: dict[tuple[int, float], tuple[PassResult, EccCounts | None]] = {}
        bar = _progress(len(jobs), progress, f"RErr ({source.name})")
        clean_ecc = None if memory.ecc_segment is None else EccCounts(memory.ecc_segment.num_words, 0, 0)
        for t, p in jobs:
            if p == 0:
                local[(t, p)] = (clean_only, clean_ecc)
            else:
                with around(t, p):
                    local[(t, p)] = perturbed_pass(model, memory, source.errors(t, p), data, task, also_wrong)
            bar.update(1)
            bar.set_postfix(p=p, rerr=f"{100 * local[(t, p)][0].error:.2f}%")
        bar.close()
        gathered = _gather(local)
    results = {key: passed for key, (passed, _) in gathered.items()}
    ecc = {key: counts for key, (_, counts) in gathered.items()}
    per_rate = tuple(
        RateResult(
            p,
            tuple(results[(t, p)].error for t in range(source.trials)),
            tuple(results[(t, p)].confidence for t in range(source.trials)),
            nonfinite=tuple(results[(t, p)].nonfinite for t in range(source.trials)),
            perplexity=() if clean.nll is None else tuple(results[(t, p)].perplexity for t in range(source.trials)),
            ecc_corrected=() if clean_ecc is None else tuple(ecc[(t, p)].corrected for t in range(source.trials)),
            ecc_detected=() if clean_ecc is None else tuple(ecc[(t, p)].detected for t in range(source.trials)),
        )
        for p in rates
    )
    return RobustnessResult(
        err=clean.error,
        confidence=clean.confidence,
        n_examples=clean.n,
        source=source.name,
        trials=source.trials,
        bits=quantizer.bits,
        scheme=asdict(quantizer.scheme) if hasattr(quantizer, "scheme") else {},
        rates=per_rate,
        rerr_definition=rerr,
        format=format_name(quantizer),
        perplexity=clean.perplexity,
        first_chip=source.first if isinstance(source, RandomChips) else
        source.seed if isinstance(source, TransientReads) else None,
        protection=memory.protection.to_dict(),
        ecc_codewords=None if clean_ecc is None else clean_ecc.codewords,
    )


def _batch_norms_in_training_mode(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, ReparameterizedBatchNorm)):
            m.train()


def _progress(total: int, enabled: bool, desc: str):
    return tqdm(total=total, disable=bar_disable(enabled), desc=desc, leave=False, dynamic_ncols=True)
