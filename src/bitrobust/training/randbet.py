"""Random bit error training (RandBET) and its variants (paper 3, Sec. 4.3, Alg. 1, Eq. 2).

RandBET minimizes E[L(f(x; w~), y) + L(f(x; w_q), y)] with w_q = Q^-1(Q(w)) and
w~ = Q^-1(BErr_p(Q(w))) (Eq. 2): every batch gets a clean and a perturbed forward and
backward pass on the quantized weights, the perturbed one with fresh random bit errors
at rate p in the integer words, and the two gradients -- both applied straight-through
to the float weights w -- are combined into one update (Alg. 1). Bit errors are only
injected while the clean loss is below a threshold (1.75 on MNIST/CIFAR-10, 3.5 on
CIFAR-100; Sec. 5, App. F), since errors from the start can keep the DNN from converging.

Variants (App. G.4, Tab. 13; Sec. 5.3, Tab. 3): ``curricular_randbet`` ramps p up from
p/20 to p over the first half of training; ``alternating_randbet`` takes two updates
per batch, the clean one first, and projects the perturbed one back into the current
quantization ranges so it cannot widen them; ``pattbet`` trains on one fixed chip
pattern (the same errors every step) and, unlike RandBET, does not generalize to other
patterns or lower rates. Weight clipping (RANDBET_w_max) and label smoothing come from
the strategy section as for every strategy. With ``activations`` the perturbed pass also reads
chosen modules' outputs from faulty buffers (transient activation faults, contract 7), so the
network learns to tolerate errors in its feature maps as well as in its weights.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import torch
from torch.func import functional_call

from bitrobust.bit_errors import PAPER_CHIPS
from bitrobust.bit_errors.hashing import derive_key
from bitrobust.bit_errors.protection import PROTECTION_FIELDS, Protection, read_protected
from bitrobust.errors import BitrobustError
from bitrobust.injection import activation_faults, buffer_format, needs_range, recording_ranges
from bitrobust.injection.activations import match_modules
from bitrobust.quantization import QuantizedState, QuantizedTensor, quantize_tensors
from bitrobust.training.config import StrategySection
from bitrobust.training.context import StepContext
from bitrobust.training.error_sources import TRAINING_ERRORS
from bitrobust.training.strategies import STRATEGIES, StepResult, Strategy, tally

COMBINES = ("average", "sum")
_ACTIVATION_READS = 0xAC7  # stream of the activation buffers' transient reads, apart from the weights'


def _positive_or_none(value: float | None, name: str) -> None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise BitrobustError(f"strategy.params.{name} must be a positive number or null, got {value!r}")


# -- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RandBETParams:
    """``strategy.params`` of ``randbet`` (and the base of its variants).

    - ``p``: bit error rate during training as a fraction (0.01 = the paper's p = 1 %).
    - ``loss_threshold``: inject bit errors in a batch only if its clean loss (the
      training loss, label smoothing included; the mean over data-parallel ranks) is
      below this (1.75 MNIST/CIFAR-10, 3.5 CIFAR-100); ``null`` injects from the first
      step. Decided per batch, as the paper states; the reference code decides for the
      next batch from the last one's losses with some slack.
    - ``combine``: ``average`` updates with (g + g~) / 2 (Alg. 1's caption and the
      reference code), ``sum`` with g + g~ (Alg. 1 line 15, the gradient of Eq. 2).
    - ``perturbed_grad_max_value``: clamp g~ elementwise to [-c, c] before combining
      (the reference code clamps at 0.05; the paper does not mention it).
    - ``perturbed_grad_max_norm``: scale g~ down to global L2 norm <= c before combining.
    - ``activations``: globs over ``model.named_modules()``; the perturbed pass then also stores
      these modules' outputs in ``activation_format`` buffers (a format name of ``bitrobust.formats``
      with one range per tensor: int8, int4, ...: fixed point with the clean pass's [min, max] of the
      same batch as range; fp32, fp16, bf16, fp8_e4m3, fp8_e5m2: float words) and reads them with fresh
      transient bit errors at rate ``activation_p`` (default: ``p``), seeded from (seed, step);
      the gradient passes straight through the faults (contract 7). Flips in float words can
      give inf or NaN and with them a NaN loss; fixed point cannot.
    - ``protection``: the perturbed weights are read through this protection (contract 6; the fields of
      :class:`~bitrobust.bit_errors.protection.Protection`, e.g. ``{protect_bits: msb}`` or
      ``{ecc: secded64}``), so training sees the memory evaluation will use.
    """

    p: float | None = None
    loss_threshold: float | None = 1.75
    combine: str = "average"
    perturbed_grad_max_value: float | None = None
    perturbed_grad_max_norm: float | None = None
    activations: str | None = None
    activation_p: float | None = None
    activation_format: str = "int8"
    protection: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.memory_protection()  # known fields and names
        if self.p is None:
            raise BitrobustError("strategy.params.p (the training bit error rate, e.g. 0.01 for 1%) is required")
        if not 0.0 <= self.p <= 1.0:
            raise BitrobustError(f"strategy.params.p must be a bit error rate in [0, 1], got {self.p!r}")
        _positive_or_none(self.loss_threshold, "loss_threshold")
        if self.combine not in COMBINES:
            raise BitrobustError(f"unknown strategy.params.combine {self.combine!r}; valid: {', '.join(COMBINES)}")
        _positive_or_none(self.perturbed_grad_max_value, "perturbed_grad_max_value")
        _positive_or_none(self.perturbed_grad_max_norm, "perturbed_grad_max_norm")
        if self.activation_p is not None and not 0.0 <= self.activation_p <= 1.0:
            raise BitrobustError(f"strategy.params.activation_p must be a bit error rate in [0, 1], got {self.activation_p!r}")
        buffer_format(self.activation_format)  # an unknown format lists the valid ones

    @property
    def activation_rate(self) -> float:
        """The activation buffers' bit error rate (0 without ``activations``)."""
        if not self.activations:
            return 0.0
        return self.p if self.activation_p is None else self.activation_p

    def memory_protection(self) -> Protection:
        """``protection`` as a :class:`Protection`."""
        unknown = sorted(set(self.protection) - set(PROTECTION_FIELDS))
        if unknown:
            raise BitrobustError(f"unknown strategy.params.protection key {unknown[0]!r}; valid: "
                                 f"{', '.join(PROTECTION_FIELDS)}")
        return Protection(**self.protection)


@dataclass(frozen=True)
class CurricularRandBETParams(RandBETParams):
    """``curricular_randbet``: p_t rises in ``ramp_steps`` equal steps from p / ramp_steps to p
    over the first ``ramp_fraction`` of the training steps (paper: p/20 to p, first half)."""

    ramp_fraction: float = 0.5
    ramp_steps: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.ramp_fraction <= 1.0:
            raise BitrobustError(f"strategy.params.ramp_fraction must be in [0, 1], got {self.ramp_fraction!r}")
        if self.ramp_steps < 1:
            raise BitrobustError(f"strategy.params.ramp_steps must be >= 1, got {self.ramp_steps!r}")


@dataclass(frozen=True)
class PattBETParams(RandBETParams):
    """``pattbet``: the errors of one fixed chip at rate p, every step.

    ``chip`` is a default chip number (the same chips evaluation uses, so evaluating on
    chip ``chip`` is Tab. 3's "same pattern" row); ``seed`` picks any other chip seed.
    ``profiled`` names a synthetic profiled chip of App. C.1 (``PAPER_CHIPS``, drawn with
    ``seed``, default 0) instead: training then sees only its persistent errors, mapped
    without offset (Tab. 16, App. G.5), and ``p`` is ignored (the chip fixes the errors;
    the logged rate is the chip's).
    """

    chip: int = 0
    seed: int | None = None
    profiled: str | None = None

    def __post_init__(self) -> None:
        if self.profiled is not None:
            if self.profiled not in PAPER_CHIPS:
                raise BitrobustError(f"unknown strategy.params.profiled chip {self.profiled!r}; valid: {', '.join(PAPER_CHIPS)}")
            if self.p is None:  # p is ignored for a profiled pattern
                object.__setattr__(self, "p", 0.0)
        super().__post_init__()
        if self.chip < 0:
            raise BitrobustError(f"strategy.params.chip must be >= 0, got {self.chip!r}")


# -- strategies ------------------------------------------------------------------------------


@dataclass
class _Counters:
    steps: int = 0
    perturbed: int = 0
    loss: float = 0.0
    wrong: int = 0
    seen: int = 0
    rate: float = 0.0
    nonfinite: int = 0  # perturbed passes with non-finite gradients (skipped)


class RandBET(Strategy):
    """RandBET (Alg. 1): clean + perturbed pass per batch, one combined update of w."""

    Params: type = RandBETParams

    def __init__(self, section: StrategySection) -> None:
        super().__init__(section)
        self._counters = _Counters()
        self._activation_ranges = None  # the clean pass's output ranges (fixed-point activation buffers)

    def setup(self, ctx: StepContext) -> None:
        """Bind ``ctx`` (it must quantize) and build the error source from the params and its seed."""
        if ctx.quantizer is None:
            raise BitrobustError(f"strategy {self.section.name} injects bit errors into quantized weights; set a quant section")
        super().setup(ctx)
        self.source = TRAINING_ERRORS.get(self.error_source()).from_params(self.params, int(ctx.seed))
        if self.params.activations:
            match_modules(ctx.model, self.params.activations)  # a glob matching no module: an error now
        self.protection = self.params.memory_protection()

    # -- schedule and errors -----------------------------------------------------------------
    def error_source(self) -> str:
        """Name of the source in ``TRAINING_ERRORS`` (RandBET: a fresh random chip every step)."""
        return "random"

    @property
    def total_steps(self) -> int:
        return self.ctx.total_steps

    def rate_at(self, step: int) -> float:
        """Bit error rate used at global ``step`` (constant p for RandBET)."""
        return self.source.rate(self.params.p)

    def errors_at(self, step: int):
        """The bit errors of global ``step`` at ``rate_at(step)``, from the error source."""
        return self.source.errors(step, self.rate_at(step))

    # -- building blocks ---------------------------------------------------------------------
    def _trainable(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.ctx.model.named_parameters() if p.requires_grad]

    def quantized_state(self) -> QuantizedState:
        """Q(w): the words of the current float weights (no gradient)."""
        ctx = self.ctx
        params = dict(ctx.model.named_parameters())
        with torch.no_grad():
            return quantize_tensors({k: params[k].detach() for k in ctx.quantized_names}, ctx.quantizer)

    def _straight_through(self, dequantized: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """w + (w' - w).detach(): forward with w', gradient d L / d w' applied to w."""
        params = dict(self.ctx.model.named_parameters())
        return {k: params[k] + (v - params[k]).detach() for k, v in dequantized.items()}

    def clean_weights(self, state: QuantizedState) -> dict[str, torch.Tensor]:
        """w_q = Q^-1(Q(w)) with straight-through gradients (float w without QAT)."""
        if not self.ctx.fake_quantize:
            return {}
        return self._straight_through(state.dequantize())

    def perturbed_weights(self, state: QuantizedState, errors) -> dict[str, torch.Tensor]:
        """w~ = Q^-1(BErr_p(Q(w))) with straight-through gradients: errors act on the flat words (through the
        params' ``protection``)."""
        return self._straight_through(read_protected(state, errors, self.protection)[0].dequantize())

    def forward_perturbed(self, x: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits with perturbed weights; running statistics (BN) are left to the clean pass."""
        model = self.ctx.model
        buffers = {k: b.clone() for k, b in model.named_buffers()}
        return functional_call(model, {**weights, **buffers}, (x,))

    def activation_reads(self, step: int):
        """The transient activation faults of the perturbed pass of ``step`` (none without ``activations``)."""
        prm = self.params
        if not prm.activations:
            return contextlib.nullcontext()
        seed = derive_key(int(self.ctx.seed), step, _ACTIVATION_READS) & ((1 << 62) - 1)
        return activation_faults(self.ctx.model, prm.activations, prm.activation_rate, "transient", seed=seed,
                                 format=prm.activation_format, calibration=self._activation_ranges)

    def inject_now(self, clean_loss: torch.Tensor, rate: float) -> bool:
        """Perturb this batch? Only if p > 0 (in the weights or the activations) and the clean loss (mean
        over all ranks) < threshold."""
        if rate <= 0.0 and self.params.activation_rate <= 0.0:
            return False
        threshold = self.params.loss_threshold
        if threshold is None:
            return True
        value = clean_loss.detach().clone().reshape(1)
        self.ctx.all_mean([value])
        return bool(value.item() < threshold)

    def _gradients(self, loss: torch.Tensor, params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]

    def clip_perturbed(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """Optional clamp (elementwise) and norm clipping of g~, on the gradient of the whole batch."""
        c, max_norm = self.params.perturbed_grad_max_value, self.params.perturbed_grad_max_norm
        if c is None and max_norm is None:
            return grads
        self.ctx.all_mean(grads)  # nonlinear: clip the all-rank mean, as one process would
        if c is not None:
            grads = [g.clamp(-c, c) for g in grads]
        if max_norm is not None:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
            grads = [g * scale for g in grads]
        return grads

    def perturbed_pass(self, x, y, state: QuantizedState, step: int, params) -> list[torch.Tensor]:
        """g~ = d L(f(x; w~), y) / d w~ for the errors of ``step`` (clipped if asked)."""
        errors = self.errors_at(step)
        with self.activation_reads(step):
            logits = self.forward_perturbed(x, self.perturbed_weights(state, errors))
        loss = self.ctx.loss_fn(logits, y)
        grads = self._gradients(loss, params)
        c = self._counters
        c.perturbed += 1
        if not all(bool(torch.isfinite(g).all()) for g in grads):
            # a flipped float exponent (inf/NaN or huge weights): this pass gives no gradient and no statistics
            c.nonfinite += 1
            return [torch.zeros_like(g) for g in grads]
        right, n = tally(logits, y)
        c.loss += float(loss.detach()) * n
        c.wrong += n - right
        c.seen += n
        return self.clip_perturbed(grads)

    # -- one step ----------------------------------------------------------------------------
    def _clean_pass(self, x, y, state, params):
        prm = self.params
        self._activation_ranges = None
        if prm.activations and needs_range(buffer_format(prm.activation_format)):
            with recording_ranges(self.ctx.model, prm.activations) as recorder:  # this batch's ranges
                logits = self.forward(x, self.clean_weights(state))
            self._activation_ranges = recorder.result()
        else:
            logits = self.forward(x, self.clean_weights(state))
        loss = self.ctx.loss_fn(logits, y)
        grads = self._gradients(loss, params)
        return loss, grads, StepResult(float(loss.detach()), *tally(logits, y))

    def train_step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> StepResult:
        named = self._trainable()
        params = [p for _, p in named]
        state = self.quantized_state()  # shared by both passes
        loss, grads, result = self._clean_pass(x, y, state, params)
        rate = self.rate_at(step)
        self._counters.steps += 1
        self._counters.rate = rate
        if self.inject_now(loss, rate):
            perturbed = self.perturbed_pass(x, y, state, step, params)
            if self.params.combine == "average":  # w <- w - lr (g + g~) / 2
                grads = [(g + gp) / 2 for g, gp in zip(grads, perturbed)]
            else:  # w <- w - lr (g + g~)
                grads = [g + gp for g, gp in zip(grads, perturbed)]
        for p, g in zip(params, grads):
            p.grad = g
        return result

    def metrics(self) -> dict:
        """Per-epoch counters (reset when read): share of perturbed steps, perturbed loss/error."""
        c, self._counters = self._counters, _Counters()
        out = {
            "bit_error_rate": c.rate,
            "perturbed_fraction": c.perturbed / max(c.steps, 1),
            "perturbed_loss": c.loss / c.seen if c.seen else None,
            "perturbed_train_error": c.wrong / c.seen if c.seen else None,
        }
        if c.nonfinite:  # float formats: passes skipped for inf/NaN gradients
            out["perturbed_nonfinite"] = c.nonfinite / c.perturbed
        return out


class CurricularRandBET(RandBET):
    """Curricular RandBET (App. G.4): p_t ramps from p/20 to p over the first half of training."""

    Params = CurricularRandBETParams

    def rate_at(self, step: int) -> float:
        # p_t = p * k / K with k = min(K, floor(t / (f T) * K) + 1): K equal steps over f T steps
        # (the reference code steps per epoch; here per training step, same endpoints).
        k_max = self.params.ramp_steps
        ramp = self.params.ramp_fraction * self.total_steps
        k = k_max if ramp <= 0 else min(k_max, math.floor(step * k_max / ramp) + 1)
        return self.source.rate(self.params.p * k / k_max)


class AlternatingRandBET(RandBET):
    """Alternating RandBET (App. G.4): a clean update, then a perturbed update that is
    projected back into the quantization ranges the weights had after the clean update.

    So only clean gradients can widen a tensor's range [q_min, q_max] (symmetric
    schemes: [-q, q]; global: the shared range). Following the reference code, the
    perturbed update uses g~ / 2 with ``combine: average`` and g~ with ``sum``. Batches
    above the loss threshold get the clean update only.
    """

    def __init__(self, section: StrategySection) -> None:
        super().__init__(section)
        self.projection_ranges: dict[str, tuple[float, float]] | None = None

    def train_step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> StepResult:
        ctx = self.ctx
        named = self._trainable()
        params = [p for _, p in named]
        loss, grads, result = self._clean_pass(x, y, self.quantized_state(), params)
        for p, g in zip(params, grads):
            p.grad = g
        rate = self.rate_at(step)
        self._counters.steps += 1
        self._counters.rate = rate
        if not self.inject_now(loss, rate):
            return result
        # 1st update, w <- w - lr g, as the trainer takes it (gradient averaging, step, clipping)
        ctx.update()
        Strategy.after_step(self)
        ctx.optimizer.zero_grad(set_to_none=True)
        # 2nd update from the perturbed updated weights; the trainer steps, after_step projects
        state = self.quantized_state()
        # contract 1's per-tensor ranges; other formats (per-group, float) keep each tensor's [min, max]
        ranges = {name: qt.qrange for name, qt in state.tensors.items() if isinstance(qt, QuantizedTensor)}
        with torch.no_grad():
            for name, p in named:  # parameters left in float keep their [min, max]
                if name not in ranges and p.numel():
                    ranges[name] = (float(p.min()), float(p.max()))
        self.projection_ranges = ranges
        perturbed = self.perturbed_pass(x, y, state, step, params)
        scale = 0.5 if self.params.combine == "average" else 1.0
        for p, g in zip(params, perturbed):
            p.grad = g * scale
        return result

    @torch.no_grad()
    def after_step(self) -> None:
        """Clipping, then (after a perturbed update) w <- clamp(w, q_min, q_max) per tensor."""
        super().after_step()
        if self.projection_ranges is not None:
            params = dict(self.ctx.model.named_parameters())
            for name, (lo, hi) in self.projection_ranges.items():
                params[name].clamp_(lo, hi)
            self.projection_ranges = None


class PattBET(RandBET):
    """PattBET (Sec. 5.3, Tab. 3): training on one fixed bit error pattern (a fixed chip), or on
    the persistent errors of a profiled chip at offset 0 (Tab. 16)."""

    Params = PattBETParams

    def error_source(self) -> str:
        return "pattern" if self.params.profiled is None else "profiled"


STRATEGIES.add("randbet", RandBET)
STRATEGIES.add("curricular_randbet", CurricularRandBET)
STRATEGIES.add("alternating_randbet", AlternatingRandBET)
STRATEGIES.add("pattbet", PattBET)
