"""Fixed-point quantization of weights into m-bit words (paper 3, Sec. 4.1 and App. D).

A group of weights (one tensor, or all tensors for ``global`` ranges) is mapped to
[-1, 1] -- by its absolute maximum (symmetric) or by its [q_min, q_max] range
(asymmetric, Eq. 3) -- and the normalized value z is quantized to an integer
v = R(z (2^(m-1) - 1)) with R = round (half to even) or trunc (toward zero, the
paper's integer conversion). The stored m-bit word is v in two's complement
(signed) or v + 2^(m-1) - 1 (unsigned, Eq. 4). Bit errors only ever touch these
words; dequantization decodes whatever word it finds, so a flipped signed word can
decode to -2^(m-1) and a flipped unsigned word to 2^(m-1).

At m = 1 the formula above has a single level (2^0 - 1 = 0); the 1-bit word then
stores the sign of z (1 for z > 0, as the binarization b(x) of the BNN papers) and
decodes to the two ends of the range, -1 and +1 in normalized units.

The presets are ``normal`` (symmetric, per-tensor, signed, trunc: the paper's NORMAL)
and ``rquant`` (asymmetric, per-tensor, unsigned, round: RQUANT, the default); the
rows of Table 1 are the steps between them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from bitrobust.errors import BitrobustError
from bitrobust.registry import Registry

RangeKind = Literal["global", "per_tensor"]
METADATA_BITS = 16  # width of a metadata word (an fp16 scale or zero point; contract 5)
Rounding = Literal["round", "trunc"]


@dataclass(frozen=True)
class QuantScheme:
    """How weights become words: range granularity, symmetry, code type and rounding."""

    range: RangeKind = "per_tensor"
    symmetric: bool = False
    signed: bool = False
    rounding: Rounding = "round"

    def __post_init__(self) -> None:
        for name in ("symmetric", "signed"):
            if not isinstance(getattr(self, name), bool):
                raise BitrobustError(f"quantization {name} must be true or false, got {getattr(self, name)!r}")
        if self.range not in ("global", "per_tensor"):
            raise BitrobustError(f"unknown quantization range {self.range!r}; valid: global, per_tensor")
        if self.rounding not in ("round", "trunc"):
            raise BitrobustError(f"unknown rounding {self.rounding!r}; valid: round, trunc")


SCHEMES: Registry[QuantScheme] = Registry("quantization scheme")
# Table 1 / Table 8 of paper 3, from NORMAL (per-layer) to RQUANT, plus the global row.
SCHEMES.add("global", QuantScheme(range="global", symmetric=True, signed=True, rounding="trunc"))
SCHEMES.add("normal", QuantScheme(range="per_tensor", symmetric=True, signed=True, rounding="trunc"))
SCHEMES.add("asymmetric", QuantScheme(range="per_tensor", symmetric=False, signed=True, rounding="trunc"))
SCHEMES.add("asymmetric_unsigned", QuantScheme(range="per_tensor", symmetric=False, signed=False, rounding="trunc"))
SCHEMES.add("rquant", QuantScheme(range="per_tensor", symmetric=False, signed=False, rounding="round"))
# Symmetric quantization with rounding (used by Table 12's symmetric RANDBET models).
SCHEMES.add("symmetric_rounded", QuantScheme(range="per_tensor", symmetric=True, signed=True, rounding="round"))


def check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise BitrobustError(f"bits must be an integer in 1..8, got {bits!r}")
    return bits


def levels(bits: int) -> int:
    """L = 2^(m-1) - 1, the largest magnitude of v (0 at m = 1)."""
    return 2 ** (bits - 1) - 1


def offset(bits: int, scheme: QuantScheme) -> int:
    """The additive term of unsigned words (Eq. 4): 2^(m-1) - 1, else 0."""
    return 0 if scheme.signed else levels(bits)


def step(bits: int) -> float:
    """D in normalized units ([-1, 1] is the range): 1 / (2^(m-1) - 1); 2 at m = 1."""
    return 2.0 if bits == 1 else 1.0 / levels(bits)


def group_range(t: torch.Tensor, scheme: QuantScheme) -> tuple[float, float]:
    """The range (q_min, q_max) of one group: (-q, q) with q = max|w| if symmetric."""
    t = t.detach()
    if t.numel() == 0:
        return (0.0, 0.0)
    if scheme.symmetric:
        q = float(t.abs().max())
        return (-q, q)
    return (float(t.min()), float(t.max()))


def merge_ranges(ranges: list[tuple[float, float]]) -> tuple[float, float]:
    """The range covering all groups (for ``global`` quantization)."""
    if not ranges:
        return (0.0, 0.0)
    return (min(r[0] for r in ranges), max(r[1] for r in ranges))


Range = tuple[float, float] | tuple[torch.Tensor, torch.Tensor]
"""(q_min, q_max): two floats (one range), or two float64 tensors broadcastable to the weights (one range
per element, e.g. per channel or group: contract 5). Tensor ranges give the same numbers as the floats: the
range arithmetic (q_max - q_min, its half) is done in float64 and rounded once to the working dtype, as torch
does with a Python float."""


def _normalize(w: torch.Tensor, qrange: Range, scheme: QuantScheme, out: torch.Tensor | None = None) -> torch.Tensor:
    """z in [-1, 1]: w / q (symmetric) or N(w) = 2 (w - q_min) / (q_max - q_min) - 1 (Eq. 3).

    Always a new tensor (never ``w`` itself), or ``out`` (of ``w``'s dtype and shape) when given, so callers
    may go on in place. With one range (floats) the steps run in place on the first result: the same
    operations in the same order as the formula, so the same roundings, with one temporary instead of four.
    """
    qmin, qmax = qrange
    if isinstance(qmax, torch.Tensor):
        if scheme.symmetric:
            q = qmax.to(w.dtype)
            z = torch.where(q == 0, 0.0, w / q)
        else:
            width = (qmax - qmin).to(w.dtype)
            z = torch.where(width == 0, 0.0, 2 * (w - qmin.to(w.dtype)) / width - 1)
        return z if out is None else out.copy_(z)
    if (qmax == 0) if scheme.symmetric else (qmax == qmin):
        return torch.zeros_like(w) if out is None else out.zero_()
    if scheme.symmetric:
        return torch.div(w, qmax, out=out)
    return torch.sub(w, qmin, out=out).mul_(2).div_(qmax - qmin).sub_(1)


def _denormalize(z: torch.Tensor, qrange: Range, scheme: QuantScheme) -> torch.Tensor:
    """w = z q (symmetric) or (z + 1) (q_max - q_min) / 2 + q_min; in place on ``z`` for one range (floats)."""
    qmin, qmax = qrange
    if isinstance(qmax, torch.Tensor):
        if scheme.symmetric:
            return z * qmax.to(z.dtype)
        return (z + 1) * ((qmax - qmin) / 2).to(z.dtype) + qmin.to(z.dtype)
    if scheme.symmetric:
        return z.mul_(qmax)
    return z.add_(1).mul_((qmax - qmin) / 2).add_(qmin)


def _working(w: torch.Tensor) -> torch.Tensor:
    """``w`` (no gradient) in its working dtype: float32, or float64 for float64 weights."""
    return w.detach().to(torch.promote_types(w.dtype, torch.float32))


def quantize_levels(w: torch.Tensor, bits: int, scheme: QuantScheme, qrange: Range,
                    out: torch.Tensor | None = None) -> torch.Tensor:
    """The integers v = R(z / D) clamped to [-(2^(m-1)-1), 2^(m-1)-1] (z the normalized weight, D = 1 / (2^(m-1)-1)),
    as floats of ``w``'s working dtype (a new tensor, or ``out`` of that dtype; a NaN weight gives NaN); m >= 2.

    >>> from bitrobust.quantization.fixed_point import SCHEMES
    >>> quantize_levels(torch.tensor([-1.0, 0.0, 0.5, 1.0]), 4, SCHEMES.get("rquant"), (-1.0, 1.0)).tolist()
    [-7.0, 0.0, 4.0, 7.0]
    """
    lv = levels(bits)
    v = _normalize(_working(w), qrange, scheme, out).mul_(lv)  # = z / D
    v = v.round_() if scheme.rounding == "round" else v.trunc_()
    return v.clamp_(-lv, lv)


def level_words(v: torch.Tensor, bits: int, scheme: QuantScheme) -> torch.Tensor:
    """Words (uint8) of the levels ``v``: v mod 2^m (signed) or v + 2^(m-1) - 1 (unsigned).

    |v| <= 127 fits an int8, whose bytes are v's two's complement (v mod 256); unsigned words
    v + 2^(m-1) - 1 <= 254 wrap back into [0, 2^m) in uint8 arithmetic. A NaN level converts to
    v = 0 on CPU and GPU (as it did through int64).

    >>> from bitrobust.quantization.fixed_point import SCHEMES
    >>> level_words(torch.tensor([-7.0, 0.0, 7.0]), 4, SCHEMES.get("normal")).tolist()
    [9, 0, 7]
    """
    words = v.to(torch.int8).view(torch.uint8)
    return words.add_(offset(bits, scheme)) if not scheme.signed else words.bitwise_and_(2**bits - 1)


def quantize_codes(w: torch.Tensor, bits: int, scheme: QuantScheme, qrange: Range) -> torch.Tensor:
    """Words (uint8, in [0, 2^m)) of ``w`` quantized into the range ``qrange``.

    v = R(z / D) clamped to [-(2^(m-1)-1), 2^(m-1)-1] with z the normalized weight and
    D = 1 / (2^(m-1)-1); word = v mod 2^m (signed) or v + 2^(m-1) - 1 (unsigned)
    (:func:`quantize_levels`, then :func:`level_words`; both in place on one temporary).

    >>> from bitrobust.quantization.fixed_point import SCHEMES
    >>> quantize_codes(torch.tensor([-1.0, 0.0, 0.5, 1.0]), 4, SCHEMES.get("rquant"), (-1.0, 1.0)).tolist()
    [0, 7, 11, 14]
    """
    check_bits(bits)
    if bits == 1:
        return (_normalize(_working(w), qrange, scheme) > 0).to(torch.uint8)
    return level_words(quantize_levels(w, bits, scheme, qrange), bits, scheme)


def decode_words(codes: torch.Tensor, bits: int, scheme: QuantScheme) -> torch.Tensor:
    """The integer v stored in each word: sign-extended (signed) or minus the offset."""
    c = codes.to(torch.int64)
    if scheme.signed:
        return torch.where(c >= 2 ** (bits - 1), c - 2**bits, c)
    return c - offset(bits, scheme)


def dequantize_codes(
    codes: torch.Tensor,
    bits: int,
    scheme: QuantScheme,
    qrange: Range,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Weights decoded from words: z = v D, then w = z q (symmetric) or ((z + 1)(q_max - q_min)/2 + q_min)."""
    check_bits(bits)
    work = torch.promote_types(dtype, torch.float32)
    if bits == 1:
        z = codes.to(work) * 2 - 1
    else:
        z = decode_words(codes, bits, scheme).to(work) / levels(bits)
    return _denormalize(z, qrange, scheme).to(dtype)


def dequantize_levels(v: torch.Tensor, bits: int, scheme: QuantScheme, qrange: Range) -> torch.Tensor:
    """float32 values of the levels ``v`` (from :func:`quantize_levels`), exactly ``dequantize_codes`` of their
    words: a NaN level reads as v = 0 (the word it is stored as) and -0 as +0 (an integer has no sign of zero);
    in place on ``v`` when it is float32 (m >= 2).

    >>> from bitrobust.quantization.fixed_point import SCHEMES
    >>> v = torch.tensor([-7.0, -0.0, float("nan"), 7.0])
    >>> dequantize_levels(v, 4, SCHEMES.get("normal"), (-2.0, 2.0)).tolist()
    [-2.0, 0.0, 0.0, 2.0]
    """
    z = v.to(torch.float32).nan_to_num_(0.0)
    if scheme.symmetric:  # asymmetric: z + 1 below is +1 for both zeros
        z = z.add_(0.0)
    return _denormalize(z.div_(levels(bits)), qrange, scheme)


class StoredWords:
    """What every stored tensor (a frozen dataclass with ``codes``) shares: the words' shape, and the same
    tensor with other data words or metadata words. This base has no metadata words (a per-tensor range lives
    outside the memory, contracts 2 and 5; a float word carries its own scale); per-group formats override it."""

    codes: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        return self.codes.shape

    @property
    def metadata(self) -> torch.Tensor:
        return torch.zeros(0, dtype=torch.int64)

    def with_codes(self, codes: torch.Tensor):
        return dataclasses.replace(self, codes=codes)

    def with_metadata(self, words: torch.Tensor):
        if words.numel():
            raise ValueError(f"a {type(self).__name__} has no metadata words")
        return self


@dataclass(frozen=True)
class QuantizedTensor(StoredWords):
    """The words of one tensor plus what dequantization needs (bits, scheme, range, dtype)."""

    codes: torch.Tensor
    bits: int
    scheme: QuantScheme
    qrange: tuple[float, float]
    dtype: torch.dtype = torch.float32

    def dequantize(self) -> torch.Tensor:
        return dequantize_codes(self.codes, self.bits, self.scheme, self.qrange, self.dtype)


def resolve_scheme(scheme: str | QuantScheme, **overrides) -> QuantScheme:
    """The preset ``scheme`` (a name or a QuantScheme) with single fields overridden; unknown fields are errors.

    >>> resolve_scheme("normal", rounding="round").rounding
    'round'
    >>> resolve_scheme("rquant", dither=True)
    Traceback (most recent call last):
    bitrobust.errors.BitrobustError: unknown quantization override 'dither'; valid: range, symmetric, signed, rounding
    """
    base = SCHEMES.get(scheme) if isinstance(scheme, str) else scheme
    valid = [f.name for f in dataclasses.fields(QuantScheme)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise BitrobustError(f"unknown quantization override {unknown[0]!r}; valid: {', '.join(valid)}")
    return dataclasses.replace(base, **overrides) if overrides else base


class FixedPointQuantizer:
    """Quantizes tensors into m-bit words with a scheme (preset name or QuantScheme).

    ``FixedPointQuantizer(bits=8, scheme="rquant", rounding="trunc")`` takes a preset
    and overrides single fields.
    """

    def __init__(self, bits: int = 8, scheme: str | QuantScheme = "rquant", **overrides) -> None:
        self.bits = check_bits(bits)
        self.scheme = resolve_scheme(scheme, **overrides)

    def __repr__(self) -> str:
        return f"FixedPointQuantizer(bits={self.bits}, scheme={self.scheme})"

    def range_of(self, t: torch.Tensor) -> tuple[float, float]:
        return group_range(t, self.scheme)

    def quantize(self, t: torch.Tensor, qrange: tuple[float, float] | None = None) -> QuantizedTensor:
        """Words of ``t`` in its own range, or in ``qrange`` (e.g. a global range)."""
        if not t.is_floating_point():
            raise BitrobustError(f"can only quantize floating-point tensors, got {t.dtype}")
        qrange = self.range_of(t) if qrange is None else (float(qrange[0]), float(qrange[1]))
        codes = quantize_codes(t, self.bits, self.scheme, qrange)
        return QuantizedTensor(codes, self.bits, self.scheme, qrange, t.dtype)

    def dequantize(self, qt: QuantizedTensor) -> torch.Tensor:
        return qt.dequantize()

    def fake_quantize(self, t: torch.Tensor, qrange: tuple[float, float] | None = None) -> torch.Tensor:
        """Q^-1(Q(t)) in the forward pass, identity gradient (straight-through estimator)."""
        wq = self.quantize(t, qrange).dequantize()
        return t + (wq - t).detach()
