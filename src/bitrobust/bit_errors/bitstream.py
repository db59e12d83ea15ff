"""A memory region's bit stream as bits, m-bit words and bytes (DESIGN contracts 2 and 5).

Contract 2 lays words out one after the other: bit j of word i (j = 0 the least
significant) sits at stream position i*m + j. Codes that act on the stream rather than
on single words (SECDED ECC over k-bit chunks, contract 6) need it in three views: a
flat 0/1 tensor (one element per bit), the words, and bytes with stream position a in
byte a // 8 at bit a % 8 (LSB first, zero-padded), the memory image's byte order.

A word is held as the bit pattern of an integer tensor element: the m low bits of its
two's complement. Words come as values in [0, 2^m) in any integer dtype, or as raw
patterns in a dtype of exactly m bits (a 16-bit word with bit 15 set is a negative
int16, as ``torch.float16`` tensors ``.view(torch.int16)`` give).
"""

from __future__ import annotations

import sys

import torch

from bitrobust.errors import BitrobustError

MAX_WORD_BITS = 64
#: integer dtypes by bit width; the exact-width dtype of m = 8, 16, 32, 64 bits holds raw patterns
_EXACT = {8: torch.uint8, 16: torch.int16, 32: torch.int32, 64: torch.int64}
_INTEGER = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
_LITTLE = sys.byteorder == "little"


def _check_width(m: int) -> int:
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= MAX_WORD_BITS:
        raise BitrobustError(f"word width m must be an integer in [1, {MAX_WORD_BITS}], got {m!r}")
    return m


def word_dtype(m: int) -> torch.dtype:
    """The smallest of uint8, int16, int32, int64 that holds m-bit words (as patterns when m is its width).

    >>> word_dtype(4), word_dtype(16), word_dtype(17)
    (torch.uint8, torch.int16, torch.int32)
    """
    _check_width(m)
    return next(dtype for width, dtype in _EXACT.items() if m <= width)


def _check_words(words: torch.Tensor, m: int) -> torch.Tensor:
    """Flat words; a BitrobustError unless they are integer m-bit words (values or exact-width patterns)."""
    _check_width(m)
    if words.dtype not in _INTEGER:
        raise BitrobustError(f"words must be an integer tensor, got {words.dtype}")
    flat = words.reshape(-1)
    width = torch.iinfo(words.dtype).bits
    if width < m:
        raise BitrobustError(f"{m}-bit words do not fit in {words.dtype}")
    if width > m and flat.numel():
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi >= 1 << m:
            raise BitrobustError(f"words must be {m}-bit values in [0, {1 << m}), got values in [{lo}, {hi}]: "
                                 "out-of-range words in the input")
    return flat


def words_to_bits(words: torch.Tensor, m: int) -> torch.Tensor:
    """The bit stream (bool, ``words.numel() * m`` long) of m-bit words: bit j of word i at index i*m + j.

    >>> words_to_bits(torch.tensor([1, 2], dtype=torch.uint8), 3).int().tolist()
    [1, 0, 0, 0, 1, 0]
    """
    flat = _check_words(words, m)
    shifts = torch.arange(m, device=flat.device, dtype=torch.int64)
    return ((flat.to(torch.int64)[:, None] >> shifts) & 1).bool().reshape(-1)


def bits_to_words(bits: torch.Tensor, m: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The m-bit words of a bit stream whose length is a multiple of m (inverse of :func:`words_to_bits`).

    ``dtype`` defaults to :func:`word_dtype`; in a dtype of exactly m bits the words are raw
    patterns (bit m-1 set gives a negative value), in a wider one values in [0, 2^m).

    >>> bits_to_words(torch.tensor([1, 0, 0, 0, 1, 0]), 3).tolist()
    [1, 2]
    >>> bits_to_words(torch.ones(16, dtype=torch.bool), 16).tolist()  # the pattern 0xFFFF as int16
    [-1]
    """
    _check_width(m)
    dtype = word_dtype(m) if dtype is None else dtype
    if dtype not in _INTEGER or torch.iinfo(dtype).bits < m:
        raise BitrobustError(f"{m}-bit words need an integer dtype of at least {m} bits, got {dtype}")
    flat = bits.reshape(-1)
    if flat.numel() % m:
        raise BitrobustError(f"a stream of {flat.numel()} bits is not a whole number of {m}-bit words")
    planes = flat.view(-1, m).to(torch.int64)
    out = torch.zeros(planes.shape[0], dtype=torch.int64, device=flat.device)
    for j in range(m):  # OR in bit plane j; bit 63 wraps to the int64 sign, as a 64-bit pattern should
        out |= planes[:, j] << j
    return out.to(dtype)  # integer casts keep the low bits (two's complement)


def pack_stream(bits: torch.Tensor) -> torch.Tensor:
    """Bytes (uint8, ceil(L / 8)) of an L-bit stream: bit a in byte a // 8 at bit a % 8, zero-padded.

    >>> pack_stream(torch.tensor([1, 0, 0, 0, 1, 0, 0, 0, 1], dtype=torch.bool)).tolist()
    [17, 1]
    """
    flat = bits.reshape(-1)
    nbytes = (flat.numel() + 7) // 8
    padded = torch.zeros(nbytes * 8, dtype=torch.uint8, device=flat.device)
    padded[: flat.numel()] = flat.to(torch.uint8)
    weights = (1 << torch.arange(8, device=flat.device)).to(torch.uint8)
    return (padded.view(nbytes, 8) * weights).sum(1, dtype=torch.uint8)


def unpack_stream(data: torch.Tensor, length: int) -> torch.Tensor:
    """The first ``length`` bits (bool) of a byte stream; the inverse of :func:`pack_stream`.

    >>> unpack_stream(torch.tensor([17, 1], dtype=torch.uint8), 9).int().tolist()
    [1, 0, 0, 0, 1, 0, 0, 0, 1]
    """
    flat = data.reshape(-1)
    if flat.dtype != torch.uint8 or not 0 <= length <= 8 * flat.numel():
        raise BitrobustError(f"need a uint8 tensor of at least {length} bits, got {flat.dtype} x {flat.numel()}")
    shifts = torch.arange(8, device=flat.device, dtype=torch.uint8)
    return ((flat[:, None] >> shifts) & 1).bool().reshape(-1)[:length]


def words_to_bytes(words: torch.Tensor, m: int) -> torch.Tensor:
    """:func:`pack_stream` of :func:`words_to_bits`, without unpacking when m is 8, 16, 32 or 64.

    Whole-byte words are the little-endian bytes of their exact-width pattern.

    >>> words_to_bytes(torch.tensor([1, 2, 3]), 4).tolist()
    [33, 3]
    >>> words_to_bytes(torch.tensor([258], dtype=torch.int16), 16).tolist()
    [2, 1]
    """
    flat = _check_words(words, m)
    if m in _EXACT and _LITTLE:
        return flat.to(_EXACT[m]).contiguous().view(torch.uint8)
    return pack_stream(words_to_bits(flat, m))


def bytes_to_words(data: torch.Tensor, m: int, count: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The first ``count`` m-bit words of a byte stream (inverse of :func:`words_to_bytes`); dtype as in
    :func:`bits_to_words`.

    >>> bytes_to_words(torch.tensor([33, 3], dtype=torch.uint8), 4, 3).tolist()
    [1, 2, 3]
    """
    _check_width(m)
    dtype = word_dtype(m) if dtype is None else dtype
    flat = data.reshape(-1)
    if flat.dtype != torch.uint8 or count < 0 or count * m > 8 * flat.numel():
        raise BitrobustError(f"need a uint8 tensor of at least {count} {m}-bit words, got {flat.dtype} x {flat.numel()}")
    if m in _EXACT and _LITTLE and dtype in _INTEGER and torch.iinfo(dtype).bits >= m:
        chunk = flat[: count * m // 8].contiguous()
        if chunk.storage_offset() % (m // 8):  # a view as m-bit words needs an aligned start
            chunk = chunk.clone()
        words = chunk.view(_EXACT[m])
        if torch.iinfo(dtype).bits == m:
            return words.clone()
        return (words.to(torch.int64) & ((1 << m) - 1)).to(dtype)  # m < 64 here: the pattern as a value
    return bits_to_words(unpack_stream(flat, count * m), m, dtype)
