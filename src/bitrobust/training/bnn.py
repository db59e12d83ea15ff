"""Training binarized networks: flip training, latent-weight clipping, hinge regularizer (papers 1, 2).

The ``bnn`` strategy trains a BNN (``bnn``, ``bnn_fc``, ``bnn_cnn``, ``bnn_cifar``) with
cross-entropy; its layers binarize weights and activations themselves, so the recipe
has ``quant: null`` (no fixed-point fake quantization). After every update the latent
float weights of the binary layers are clipped to [-1, 1] (Hubara et al.; paper 2,
Sec. II-B). Flip training (Hirtzlin et al.; paper 2, Sec. IV-B) draws a fresh sign-flip
mask at rate ``p`` at every forward pass, from a generator seeded from (config seed,
global step), so a resumed run sees the same flips as an uninterrupted one; ``mode``
is ``straight_through`` (paper 2: X' = B(E_p(B(W)) o X), gradient unaware of the
flips) or ``native`` (Hirtzlin: (B(W) * M) o X, gradient through the mask). The direct
regularizer of paper 2, Sec. IV-A adds lambda * mean max(0, b - T) on the float
pre-activations (``hinge_b``, ``hinge_lambda``).

A BNN stores one bit per binary weight: its sign. The checkpoint's ``quant``
metadata (:func:`binary_memory_quant`) says so in the terms every model uses -- a
1-bit symmetric fixed-point quantizer (scheme ``normal``) on the binary layers'
latent weights, every other parameter (batch norm) excluded -- so ``bitrobust eval``
injects persistent (``--kind random``) or transient errors into exactly the words
of :func:`~bitrobust.nn.binary.binary_weight_codes`. At m = 1 the word of w is
1{w / q > 0} with q = max|w| and decodes to +-q, whose binarization is B(w), b(0) = -1
included (w = 0 stores 0 and decodes to -q). Only a layer whose latent weights are all
exactly 0 (q = 0) differs: both words decode to 0, so flips cannot change its B(W) = -1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from bitrobust.bit_errors.hashing import derive_key
from bitrobust.errors import BitrobustError
from bitrobust.metrics.hinge import HingeRegularizer
from bitrobust.nn.binary import binary_layers, binary_weight_names, clip_latent_weights, set_flip
from bitrobust.nn.flip import FLIP_MODES, FlipSettings
from bitrobust.training.config import StrategySection
from bitrobust.training.context import StepContext
from bitrobust.training.strategies import STRATEGIES, StepResult, Strategy

_SEED_SALT = 0x464C4950  # "FLIP": separates the flip masks from every other random stream
_SEED_MASK = (1 << 62) - 1

#: The memory format of binary weights: 1 bit each, symmetric, per tensor (the sign of w).
BINARY_MEMORY_BITS = 1
BINARY_MEMORY_SCHEME = "normal"


def flip_seed(seed: int, step: int) -> int:
    """Seed of the flip masks of global training ``step`` of a run with ``seed`` (pure function)."""
    return derive_key(_SEED_SALT, int(seed), int(step)) & _SEED_MASK


def binary_memory_quant(model: nn.Module) -> dict:
    """``quant`` metadata that stores exactly the binary weights of ``model``, one bit each.

    A 1-bit ``normal`` (symmetric) quantizer on the latent weights of the binary layers;
    every other floating-point parameter is listed in ``exclude`` by its exact name.
    """
    binary = set(binary_weight_names(model))
    exclude = [name for name, p in model.named_parameters() if p.is_floating_point() and name not in binary]
    return {
        "bits": BINARY_MEMORY_BITS,
        "scheme": BINARY_MEMORY_SCHEME,
        "overrides": {},
        "exclude": exclude,
        "binary": True,  # the words are the signs of the binary weights (B(W) = +1 <=> word 1)
    }


@dataclass(frozen=True)
class BNNParams:
    """``strategy.params`` of ``bnn``.

    - ``p``: flip rate during training as a fraction (0.05 = the papers' 5 %); 0 = no flips.
    - ``mode``: flip gradient, ``straight_through`` (paper 2) or ``native`` (Hirtzlin).
    - ``hinge_b``, ``hinge_lambda``: the direct T-regularizer lambda * mean max(0, b - T)
      (paper 2, Eq. 7; b in {32, 64, 128}, lambda in {1e-4, 1e-3, 1e-2}); off when
      ``hinge_b`` is null.
    - ``clip``: latent weights are clipped to [-clip, clip] after every update (1).
    """

    p: float = 0.0
    mode: str = "straight_through"
    hinge_b: float | None = None
    hinge_lambda: float = 1e-3
    clip: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.p, (int, float)) and 0.0 <= self.p <= 1.0):
            raise BitrobustError(f"strategy.params.p must be a flip rate in [0, 1], got {self.p!r}")
        if self.mode not in FLIP_MODES:
            raise BitrobustError(f"unknown strategy.params.mode {self.mode!r}; valid: {', '.join(FLIP_MODES.names())}")
        if self.hinge_b is not None and not (self.hinge_b >= 0 and math.isfinite(self.hinge_b)):
            raise BitrobustError(f"strategy.params.hinge_b must be a number >= 0 or null, got {self.hinge_b!r}")
        if not (self.hinge_lambda >= 0 and math.isfinite(self.hinge_lambda)):
            raise BitrobustError(f"strategy.params.hinge_lambda must be >= 0, got {self.hinge_lambda!r}")
        if not (self.clip > 0 and math.isfinite(self.clip)):
            raise BitrobustError(f"strategy.params.clip must be > 0, got {self.clip!r}")


@dataclass
class _Counters:
    hinge: float = 0.0
    seen: int = 0


class BNNStrategy(Strategy):
    """Binarized-network training: flips, latent clipping, optional hinge (see module docstring)."""

    Params: type = BNNParams

    def __init__(self, section: StrategySection) -> None:
        super().__init__(section)
        self.flip = FlipSettings(self.params.p, self.params.mode) if self.params.p > 0 else None
        self.hinge = None if self.params.hinge_b is None else HingeRegularizer(self.params.hinge_b, self.params.hinge_lambda)
        self._counters = _Counters()

    def setup(self, ctx: StepContext) -> None:
        """Check ``ctx`` holds a binarized model and no quantization; attach the seeded flips to its layers."""
        if not binary_layers(ctx.model):
            raise BitrobustError(
                f"strategy bnn needs a binarized model (bnn, bnn_fc, bnn_cnn, bnn_cifar), got {type(ctx.model).__name__}"
            )
        if ctx.quant is not None:
            raise BitrobustError("strategy bnn: the binary layers binarize their weights themselves; set quant: null")
        super().setup(ctx)
        self.generator = torch.Generator(device=ctx.device)
        set_flip(ctx.model, self.flip, generator=self.generator)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, step: int) -> StepResult:
        """Cross-entropy (+ hinge) with fresh flips seeded from (seed, ``step``)."""
        model = self.ctx.model
        self.generator.manual_seed(flip_seed(self.ctx.seed, step))
        if self.hinge is None:
            logits = model(x)
            loss = self.ctx.loss_fn(logits, y)
        else:
            trace = model.trace(x)
            logits = trace.logits
            penalty = self.hinge.penalty(model, trace.preacts)
            loss = self.ctx.loss_fn(logits, y) + penalty
            self._counters.hinge += float(penalty.detach()) * len(y)
            self._counters.seen += len(y)
        loss.backward()
        return StepResult(float(loss.detach()), int((logits.argmax(1) == y).sum()), len(y))

    @torch.no_grad()
    def after_step(self) -> None:
        """Latent weights of the binary layers to [-clip, clip]; then ``clip_w_max`` if set."""
        clip_latent_weights(self.ctx.model, self.params.clip)
        super().after_step()

    def checkpoint_quant(self) -> dict:
        return binary_memory_quant(self.ctx.model)

    def metrics(self) -> dict:
        c, self._counters = self._counters, _Counters()
        out: dict = {"flip_rate": self.params.p}
        if self.hinge is not None:
            out["hinge_penalty"] = c.hinge / c.seen if c.seen else None
        return out


STRATEGIES.add("bnn", BNNStrategy)
