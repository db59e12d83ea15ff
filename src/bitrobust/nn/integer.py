"""Integer inference for BNNs: batch norm + sign folded into one integer threshold per neuron.

With +-1 weights and +-1 inputs a layer's pre-activation h = 2 popcount(xnor(W, X)) -
#bits is an integer, and BN followed by sign only compares h with a threshold (paper 1,
Sec. II; Sari et al.). We fold every hidden neuron's BN into an integer s_n and a
direction d_n so that its output is +1 iff d_n (h - s_n - 1/2) > 0: d_n = +1 when the
BN scale gamma / sqrt(var + eps) is positive, d_n = -1 when it is negative (the
comparison flips), and a zero scale gives a constant neuron (s_n outside the range of
h). s_n is found by a binary search over the integers on the very float function the
float model evaluates (:meth:`~bitrobust.nn.binary._FoldableBatchNorm.eval_affine`,
monotone in h), so integer and float inference agree exactly, rounding included.

The first layer computes sum_j x_j B(W)_j on integer inputs |x_j| <= Z (``input_max``;
pixels 0..Z). Non-integer inputs or inputs beyond Z raise :class:`BitrobustError`:
convert them to integer levels first (e.g. ``(x * 255).round()``). The output layer's
integer pre-activations go through the model's own output batch norm (the same float
operation as the float model), so predictions are identical. Integer arithmetic is
int64 on the CPU; on other devices (no integer matmul) float64, which is exact for
these integers (|h| <= fan_in * Z < 2^53).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.nn.binary import FOLDABLE_BATCHNORMS, BinaryConv2d

if TYPE_CHECKING:  # pragma: no cover
    from bitrobust.models.bnn import BNN

FLOAT32_EXACT = 2**24  # integers up to this magnitude are exact in float32
_FAR = float(2**62)  # threshold of a constant neuron: beyond any reachable pre-activation


@dataclass(frozen=True)
class Threshold:
    """Folded BN + sign of one layer: output +1 iff direction * (h - s - 1/2) > 0.

    ``s`` and ``direction`` are int64 tensors with one entry per neuron (channel).
    """

    s: torch.Tensor
    direction: torch.Tensor

    def _view(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return t.view((1, -1) + (1,) * (h.dim() - 2)).to(h.device)

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        """+-1 (int64) outputs for integer pre-activations ``h`` (channels on dim 1)."""
        above = h > self._view(self.s, h)  # h > s  <=>  h - s - 1/2 > 0 for integers
        positive = torch.where(self._view(self.direction, h) > 0, above, ~above)
        return positive.to(torch.int64) * 2 - 1

    def margin(self, h: torch.Tensor) -> torch.Tensor:
        """|h - s - 1/2| in float64 (paper 1, Eq. 1; the T metric before the first-layer /Z)."""
        return (h.to(torch.float64) - self._view(self.s, h).to(torch.float64) - 0.5).abs()


@torch.no_grad()
def fold_batchnorm(bn: nn.Module, bound: int) -> Threshold:
    """Integer threshold of BN + sign for integer pre-activations |h| <= ``bound``.

    Direction from the sign of the BN scale; s = the largest h with output -1 (d = +1)
    or with output +1 (d = -1), binary-searched over [-bound - 1, bound + 1] with the
    float function :meth:`eval_affine` itself, which is monotone in h. When no
    reachable h switches the output, s is the BN's own threshold (floor of
    tau = mean - beta / scale), or +-2^62 for a zero scale, so that T = |h - s - 1/2|
    keeps its meaning for such neurons.
    """
    if not isinstance(bn, FOLDABLE_BATCHNORMS):
        raise BitrobustError(f"cannot fold {type(bn).__name__}: use FoldableBatchNorm1d/2d")
    bound = int(bound)
    if bound >= FLOAT32_EXACT and bn.running_mean.dtype == torch.float32:
        raise BitrobustError(f"pre-activations up to {bound} are not exact in float32 (limit 2^24)")
    scale = bn.eval_scale()
    direction = torch.where(scale < 0, -1, 1).to(torch.int64)
    channels = scale.numel()
    dtype, device = bn.running_mean.dtype, bn.running_mean.device

    def flipped_side(h: torch.Tensor) -> torch.Tensor:
        """Q(h): output is +1 (d = +1) or -1 (d = -1); monotone false -> true in h."""
        positive = bn.eval_affine(h.to(dtype).view(1, channels)).view(channels) > 0
        return torch.where(direction > 0, positive, ~positive)

    # smallest h in [lo, hi] with Q(h) true, Q(hi) := true; then s = that - 1
    lo = torch.full((channels,), -bound - 1, dtype=torch.int64, device=device)
    hi = torch.full((channels,), bound + 2, dtype=torch.int64, device=device)
    while bool((lo < hi).any()):
        mid = torch.div(lo + hi, 2, rounding_mode="floor")
        q = flipped_side(mid) | (mid >= hi)
        hi = torch.where(q & (lo < hi), mid, hi)
        lo = torch.where(~q & (lo < hi), mid + 1, lo)
    s = lo - 1
    # Thresholds outside the reachable range: every h gives the same output, so keep the
    # BN's own threshold (paper 1: s_n computed from the BN parameters) for T, on the
    # correct side; a zero scale (gamma == 0) puts it at +-2^62 (constant neuron).
    below, above = s < -bound - 1, s > bound
    if bool((below | above).any()):
        scale64 = scale.to(torch.float64)
        tau = bn.running_mean.to(torch.float64)
        if bn.bias is not None:
            tau = tau - bn.bias.to(torch.float64) / scale64  # BN(h) = 0 at h = tau
        analytic = torch.where(direction > 0, tau.floor(), tau.ceil() - 1)  # out +1 iff h > s / h <= s
        analytic = torch.nan_to_num(analytic, nan=0.0, posinf=_FAR, neginf=-_FAR).clamp(-_FAR, _FAR)
        analytic = analytic.to(torch.int64)
        s = torch.where(below, torch.minimum(analytic, s), s)
        s = torch.where(above, torch.maximum(analytic, s), s)
        s = torch.where((scale64 == 0) & below, torch.full_like(s, -int(_FAR)), s)
        s = torch.where((scale64 == 0) & above, torch.full_like(s, int(_FAR)), s)
    return Threshold(s=s.cpu(), direction=direction.cpu())


def _int_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.device.type == "cpu":
        return a @ b
    return (a.to(torch.float64) @ b.to(torch.float64)).round().to(torch.int64)


def int_linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """h = x W^T on int64 tensors."""
    return _int_matmul(x, w.t())


def int_conv2d(x: torch.Tensor, w: torch.Tensor, padding: int) -> torch.Tensor:
    """Stride-1 2-d convolution of int64 tensors with zero padding (sum over kernel offsets)."""
    n, c, height, width = x.shape
    k, _, kh, kw = w.shape
    xp = F.pad(x, (padding,) * 4) if padding else x
    ho, wo = height + 2 * padding - kh + 1, width + 2 * padding - kw + 1
    out = torch.zeros((n, ho, wo, k), dtype=torch.int64, device=x.device)
    for dy in range(kh):
        for dx in range(kw):
            patch = xp[:, :, dy : dy + ho, dx : dx + wo].permute(0, 2, 3, 1).reshape(-1, c)
            out += _int_matmul(patch, w[:, :, dy, dx].t()).view(n, ho, wo, k)
    return out.permute(0, 3, 1, 2).contiguous()


def check_integer_input(x: torch.Tensor, input_max: int) -> torch.Tensor:
    """``x`` as int64; BitrobustError unless every value is an integer with |x| <= Z."""
    if x.is_floating_point():
        if not bool(torch.isfinite(x).all()) or not bool((x == x.round()).all()):
            raise BitrobustError(
                "integer inference and the T metric need integer inputs in {0..Z} "
                "(e.g. uint8 pixels); convert real inputs to levels, e.g. (x * 255).round()"
            )
    xi = x.to(torch.int64)
    if xi.numel() and int(xi.abs().max()) > input_max:
        raise BitrobustError(f"inputs must satisfy |x| <= Z = {input_max}, got max |x| = {int(xi.abs().max())}")
    return xi


@dataclass
class IntegerTrace:
    """Per block: its int64 input, its pre-activation h (after pooling), its +-1 output."""

    inputs: list[torch.Tensor]
    preacts: list[torch.Tensor]
    outputs: list[torch.Tensor]
    logits: torch.Tensor


class IntegerBNN:
    """Integer-only inference of a :class:`~bitrobust.models.bnn.BNN` (eval-mode semantics).

    Weights are the layers' effective +-1 weights at construction time (an override set
    with :func:`~bitrobust.nn.flip.set_binary_weights` included, transient flips not).
    """

    def __init__(self, model: "BNN") -> None:
        from bitrobust.models.bnn import BNN

        if not isinstance(model, BNN):
            raise BitrobustError(f"integer inference needs a BNN, got {type(model).__name__}")
        self.model = model
        self.input_max = model.input_max
        self.in_shape = model.in_shape
        self.blocks = list(model.blocks)
        with torch.no_grad():
            self.weights = [
                b.layer.effective_binary_weight(flips=False).detach().to(torch.int64) for b in self.blocks
            ]
        self.bounds = [self.fan_in(i) * (self.input_max if i == 0 else 1) for i in range(len(self.blocks))]
        self.thresholds = [fold_batchnorm(b.bn, bd) for b, bd in zip(self.blocks[:-1], self.bounds)]

    @classmethod
    def from_model(cls, model: "BNN") -> "IntegerBNN":
        return cls(model)

    def fan_in(self, index: int) -> int:
        """Number of inputs of one neuron of block ``index`` (C k k for a conv)."""
        w = self.blocks[index].layer.weight
        return int(w[0].numel())

    @property
    def num_hidden(self) -> int:
        return len(self.blocks) - 1

    def preactivation(self, index: int, a: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Integer pre-activation h of block ``index`` for int64 input ``a`` (after pooling)."""
        block = self.blocks[index]
        w = (self.weights[index] if weight is None else weight).to(a.device)
        if block.flatten:
            a = torch.flatten(a, 1)
        if isinstance(block.layer, BinaryConv2d):
            h = int_conv2d(a, w, int(block.layer.padding[0]))
        else:
            h = int_linear(a, w)
        if block.pool is not None:
            k = int(block.pool.kernel_size)
            h = F.max_pool2d(h, k) if h.device.type == "cpu" else _int_max_pool(h, k)
        return h

    def activate(self, index: int, h: torch.Tensor) -> torch.Tensor:
        """+-1 outputs of hidden block ``index`` from its integer pre-activations."""
        return self.thresholds[index].apply(h)

    def output_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The output block's float logits: its batch norm applied to the integer h."""
        bn = self.blocks[-1].bn
        with torch.no_grad():
            return bn.eval_affine(h.to(bn.running_mean.dtype))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = check_integer_input(x, self.input_max)
        size = self.in_shape[0] * self.in_shape[1] * self.in_shape[2]
        flat = self.blocks[0].flatten and x.dim() == 2 and x.shape[1] == size
        if tuple(x.shape[1:]) != self.in_shape and not flat:
            raise BitrobustError(f"expected inputs of shape (N, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        return x

    def run(self, x: torch.Tensor) -> IntegerTrace:
        """Integer forward pass recording every block's input, pre-activation and output."""
        a = self.prepare(x)
        inputs, preacts, outputs = [], [], []
        for i in range(len(self.blocks)):
            inputs.append(a)
            h = self.preactivation(i, a)
            preacts.append(h)
            if i == self.num_hidden:
                return IntegerTrace(inputs, preacts, outputs, self.output_logits(h))
            a = self.activate(i, h)
            outputs.append(a)
        raise AssertionError("unreachable")

    def hidden_preactivations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Integer pre-activations of the hidden blocks only (no output layer)."""
        a = self.prepare(x)
        preacts = []
        for i in range(self.num_hidden):
            h = self.preactivation(i, a)
            preacts.append(h)
            a = self.activate(i, h)
        return preacts

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x).logits

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1)


def _int_max_pool(h: torch.Tensor, k: int) -> torch.Tensor:
    n, c, height, width = h.shape
    ho, wo = height // k, width // k
    return h[:, :, : ho * k, : wo * k].reshape(n, c, ho, k, wo, k).amax(dim=(3, 5))


def fold_thresholds(model: "BNN") -> list[Threshold]:
    """The folded thresholds of every hidden block of ``model``."""
    return IntegerBNN(model).thresholds


def integer_predict(model: "BNN", x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class predictions of ``model`` computed with integer inference, in batches."""
    net = IntegerBNN(model)
    return torch.cat([net.predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
