"""Counter-based hashing on int64 tensors: the randomness behind persistent chips.

Random values that must be a pure function of (seed, position) -- identical on CPU
and GPU, for any batch order and any torch version -- come from hashing integer
keys with the SplitMix64 finalizer, using only integer multiply/xor/shift (wrapping
64-bit arithmetic), never a stateful generator. Tensors hold the 64-bit words as
int64; right shifts are made logical by masking.
"""

from __future__ import annotations

import numpy as np
import torch

from bitrobust.errors import BitrobustError

_M64 = (1 << 64) - 1


def _signed(c: int) -> int:
    c &= _M64
    return c - (1 << 64) if c >= 1 << 63 else c


_C1 = _signed(0xBF58476D1CE4E5B9)
_C2 = _signed(0x94D049BB133111EB)
_GOLDEN = _signed(0x9E3779B97F4A7C15)


def srl(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 words (torch's >> is arithmetic).

    >>> srl(torch.tensor([-1]), 60).tolist()
    [15]
    """
    return (x >> s) & ((1 << (64 - s)) - 1)


def mix64(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finalizer: a bijection on 64-bit words with good avalanche.

    >>> mix64(torch.tensor([1])).tolist() == [mix64_int(1)]
    True
    """
    x = x.to(torch.int64, copy=True)
    return mix64_(x, torch.empty_like(x))


def mix64_(x: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """:func:`mix64` in place on int64 ``x``, with ``tmp`` (same shape) as scratch: no allocation.

    >>> x = torch.tensor([1]); mix64_(x, torch.empty_like(x)) is x and x.tolist() == [mix64_int(1)]
    True
    """
    for shift, mult in ((30, _C1), (27, _C2), (31, None)):
        torch.bitwise_right_shift(x, shift, out=tmp)
        x ^= tmp.bitwise_and_((1 << (64 - shift)) - 1)  # logical shift
        if mult is not None:
            x *= mult
    return x


def mix64_int(x: int) -> int:
    """The same finalizer on a Python int (reference and scalar keys).

    >>> mix64_int(1)
    6238072747940578789
    """
    x &= _M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def derive_key(*parts: int) -> int:
    """A 64-bit key (as signed int64 value) from integers, e.g. (seed, stream id).

    >>> derive_key(0, 1) == mix64_int(1), derive_key(0, 1) != derive_key(1, 0)
    (True, True)
    """
    h = 0
    for p in parts:
        h = mix64_int(h * 0x9E3779B97F4A7C15 + (p & _M64))
    return _signed(h)


def hash_keys(key: int, *counters: torch.Tensor | int) -> torch.Tensor:
    """64-bit hash of (key, counter_1, counter_2, ...), elementwise over broadcast tensors.

    >>> hash_keys(derive_key(0), torch.arange(2)).equal(mix64(torch.arange(2) + derive_key(0)))
    True
    """
    h = None
    for c in counters:
        c = torch.as_tensor(c, dtype=torch.int64)
        h = mix64(c + key) if h is None else mix64(h * _GOLDEN + c)
    assert h is not None, "hash_keys needs at least one counter"
    return h


def hash_uniform(key: int, *counters: torch.Tensor | int) -> torch.Tensor:
    """u(key, counters) in [0, 1): the top 53 bits of :func:`hash_keys` as float64, exact.

    >>> u = hash_uniform(derive_key(0, 1), torch.arange(4))
    >>> u.dtype, bool(((u >= 0) & (u < 1)).all())
    (torch.float64, True)
    """
    return srl(hash_keys(key, *counters), 11).to(torch.float64) * 2.0**-53


def int_seed(seed: int | torch.Generator) -> int:
    """An int seed as is; a ``torch.Generator`` gives a fresh one in [0, 2^62) per call.

    >>> int_seed(7), int_seed(torch.Generator().manual_seed(0)) == int_seed(torch.Generator().manual_seed(0))
    (7, True)
    """
    if isinstance(seed, torch.Generator):
        return int(torch.randint(0, 2**62, (1,), generator=seed))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise BitrobustError(f"seed must be an int or a torch.Generator, got {seed!r}")
    return int(seed)


def popcount64(x: torch.Tensor) -> torch.Tensor:
    """Number of set bits of each 64-bit word (SWAR).

    >>> popcount64(torch.tensor([0, 7, -1])).tolist()
    [0, 3, 64]
    """
    x = x - (srl(x, 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + (srl(x, 2) & 0x3333333333333333)
    x = (x + srl(x, 4)) & 0x0F0F0F0F0F0F0F0F
    return srl(x * 0x0101010101010101, 56)


def low_bits_mask(n: torch.Tensor) -> torch.Tensor:
    """Words with the lowest n bits set, n in [0, 64] (elementwise).

    >>> low_bits_mask(torch.tensor([0, 3, 64])).tolist()
    [0, 7, -1]
    """
    n = n.to(torch.int64)
    full = n >= 64
    part = (torch.ones_like(n) << n.clamp(max=63)) - 1
    return torch.where(full, torch.full_like(n, -1), part)
