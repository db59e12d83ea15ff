"""quantize_codes (in place, int8 words) gives exactly the words of contract 1's formula as it was first written
(out of place, int64 words): the reference below is that implementation, kept verbatim as the definition."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrobust.quantization import SCHEMES, QuantScheme, quantize_codes
from bitrobust.quantization.fixed_point import levels, offset

ALL_SCHEMES = [QuantScheme(range=r, symmetric=s, signed=g, rounding=o) for r in ("global", "per_tensor")
               for s in (True, False) for g in (True, False) for o in ("round", "trunc")]
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def reference_normalize(w, qrange, scheme):
    qmin, qmax = qrange
    if isinstance(qmax, torch.Tensor):
        if scheme.symmetric:
            q = qmax.to(w.dtype)
            return torch.where(q == 0, 0.0, w / q)
        width = (qmax - qmin).to(w.dtype)
        return torch.where(width == 0, 0.0, 2 * (w - qmin.to(w.dtype)) / width - 1)
    if scheme.symmetric:
        if qmax == 0:
            return torch.zeros_like(w)
        return w / qmax
    if qmax == qmin:
        return torch.zeros_like(w)
    return 2 * (w - qmin) / (qmax - qmin) - 1


def reference_codes(w, bits, scheme, qrange):
    z = reference_normalize(w.detach().to(torch.promote_types(w.dtype, torch.float32)), qrange, scheme)
    if bits == 1:
        return (z > 0).to(torch.uint8)
    lv = levels(bits)
    scaled = z * lv
    v = torch.round(scaled) if scheme.rounding == "round" else torch.trunc(scaled)
    v = v.clamp(-lv, lv).to(torch.int64)
    words = v + offset(bits, scheme) if not scheme.signed else v & (2**bits - 1)
    return words.to(torch.uint8)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, width=32)
anything = st.one_of(finite, st.floats(width=32), st.sampled_from([0.0, -0.0, 1e-45, 3e38, -3e38]))


@settings(max_examples=400, deadline=None)
@given(values=st.lists(anything, min_size=1, max_size=300), bits=st.integers(1, 8),
       scheme=st.sampled_from(ALL_SCHEMES), dtype=st.sampled_from(DTYPES),
       bounds=st.one_of(st.none(), st.tuples(finite, finite)))
def test_scalar_ranges_give_the_reference_words(values, bits, scheme, dtype, bounds):
    """Any weights (NaN, inf, outside the range), any scalar range (its own, a calibrated one, empty)."""
    w = torch.tensor(values, dtype=torch.float32).to(dtype)
    if bounds is None:  # the tensor's own range, as FixedPointQuantizer takes it
        finite_w = w[torch.isfinite(w)].double()
        lo, hi = (float(finite_w.min()), float(finite_w.max())) if finite_w.numel() else (0.0, 0.0)
    else:
        lo, hi = min(bounds), max(bounds)
    q = max(abs(lo), abs(hi))
    qrange = (-q, q) if scheme.symmetric else (lo, hi)
    got = quantize_codes(w, bits, scheme, qrange)
    assert got.dtype == torch.uint8 and torch.equal(got, reference_codes(w, bits, scheme, qrange))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(anything, min_size=4, max_size=200), bits=st.integers(1, 8),
       scheme=st.sampled_from(ALL_SCHEMES), dtype=st.sampled_from(DTYPES), data=st.data())
def test_tensor_ranges_give_the_reference_words(values, bits, scheme, dtype, data):
    """One range per row (per channel/group, contract 5), zero-width rows included."""
    rows = 2
    w = torch.tensor(values[: len(values) // rows * rows], dtype=torch.float32).to(dtype).view(rows, -1)
    los = data.draw(st.lists(finite, min_size=rows, max_size=rows))
    widths = data.draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e6)), min_size=rows, max_size=rows))
    qmin = torch.tensor(los, dtype=torch.float64)[:, None]
    qmax = qmin + torch.tensor(widths, dtype=torch.float64)[:, None]
    qrange = (-qmax.abs(), qmax.abs()) if scheme.symmetric else (qmin, qmax)
    assert torch.equal(quantize_codes(w, bits, scheme, qrange), reference_codes(w, bits, scheme, qrange))


def test_presets_on_a_large_tensor_give_the_reference_words():
    """Vectorized kernels (long tensors, every scheme preset) and a strided view."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 70_001, generator=g) * 3
    w[0, :50] = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e30, -1e30] * 10)
    for name in SCHEMES.names():
        scheme = SCHEMES.get(name)
        for bits in (1, 2, 4, 7, 8):
            for view in (w, w[:, ::3], w.t()):
                qrange = (-2.5, 2.5) if scheme.symmetric else (-1.0, 4.0)
                assert torch.equal(quantize_codes(view, bits, scheme, qrange),
                                   reference_codes(view, bits, scheme, qrange)), (name, bits)
