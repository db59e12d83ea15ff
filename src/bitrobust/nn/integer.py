"""Integer arithmetic of BNN layers: batch norm + sign folded into one integer threshold per neuron.

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
pixels 0..Z). Non-integer inputs or inputs beyond Z raise :class:`BitrobustError`
(:func:`check_integer_input`): convert them to integer levels first (e.g.
``(x * 255).round()``). The kernels here (:func:`int_linear`, :func:`int_conv2d`,
:func:`int_max_pool`) work on int64 tensors: on the CPU directly, on other devices (no
integer matmul) in float64, which is exact for these integers (|h| <= fan_in * Z < 2^53).
A whole network in integer form is :class:`bitrobust.models.bnn_integer.IntegerBNN`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bitrobust.errors import BitrobustError
from bitrobust.nn.binary import FOLDABLE_BATCHNORMS

FLOAT32_EXACT = 2**24  # integers up to this magnitude are exact in float32
_FAR = float(2**62)  # threshold of a constant neuron: beyond any reachable pre-activation


@dataclass(frozen=True)
class Threshold:
    """Folded BN + sign of one layer: output +1 iff direction * (h - s - 1/2) > 0.

    ``s`` (int64, or an integer-valued float dtype after :meth:`to`) and ``direction``
    (int64, +-1) have one entry per neuron (channel).

    >>> th = Threshold(torch.tensor([2, 2]), torch.tensor([1, -1]))
    >>> th.apply(torch.tensor([[3, 3], [2, 2]])).tolist()
    [[1, -1], [-1, 1]]
    >>> th.margin(torch.tensor([[3, 3]])).tolist()
    [[0.5, 0.5]]
    """

    s: torch.Tensor
    direction: torch.Tensor

    @functools.cached_property
    def _negative(self) -> torch.Tensor:
        return self.direction < 0

    def _view(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return t.view((1, -1) + (1,) * (h.dim() - 2)).to(h.device)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "Threshold":
        """This threshold with ``s`` as ``dtype`` on ``device`` (for integer-valued float h)."""
        return Threshold(self.s.to(device=device, dtype=dtype), self.direction.to(device=device))

    def apply(self, h: torch.Tensor) -> torch.Tensor:
        """+-1 outputs, in h's dtype, for integer(-valued) pre-activations ``h`` (channels on dim 1)."""
        above = h > self._view(self.s, h)  # h > s  <=>  h - s - 1/2 > 0 for integers
        return (above ^ self._view(self._negative, h)).to(h.dtype) * 2 - 1  # gamma < 0: flipped

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

    >>> bn = FOLDABLE_BATCHNORMS[0](1).eval()
    >>> _ = bn.running_mean.fill_(2.5)  # BN(h) > 0 iff h > 2.5
    >>> th = fold_batchnorm(bn, 10)
    >>> th.s.tolist(), th.direction.tolist()
    ([2], [1])
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
    """h = x W^T on int64 tensors.

    >>> int_linear(torch.tensor([[255, 0, 3]]), torch.tensor([[1, -1, -1]])).tolist()
    [[252]]
    """
    return _int_matmul(x, w.t())


def int_conv2d(x: torch.Tensor, w: torch.Tensor, padding: int) -> torch.Tensor:
    """Stride-1 2-d convolution of int64 tensors with zero padding (sum over kernel offsets).

    >>> int_conv2d(torch.ones(1, 1, 3, 3, dtype=torch.int64), torch.ones(1, 1, 3, 3, dtype=torch.int64), 1)[0, 0].tolist()
    [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    """
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
    """``x`` as int64; BitrobustError unless every value is an integer with |x| <= Z.

    >>> check_integer_input(torch.tensor([0.0, 255.0]), 255).tolist()
    [0, 255]
    """
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


def int_max_pool(h: torch.Tensor, k: int) -> torch.Tensor:
    """k x k max pooling with stride k (floor mode) of an integer tensor, on any device.

    >>> int_max_pool(torch.arange(16).view(1, 1, 4, 4), 2).tolist()
    [[[[5, 7], [13, 15]]]]
    """
    n, c, height, width = h.shape
    ho, wo = height // k, width // k
    return h[:, :, : ho * k, : wo * k].reshape(n, c, ho, k, wo, k).amax(dim=(3, 5))
