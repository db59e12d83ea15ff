"""Random bit errors: persistent chips and transient errors (paper 3, Sec. 3 and App. F).

A persistent chip c assigns every bit address a a number u_c(a) in [0, 1); bit a is
faulty at rate p iff u_c(a) < p. So a chip's errors at p' <= p are a subset of its
errors at p (errors are "inherited" across voltages), a flip is a flip whatever the
stored bit, and different chips are independent. u_c(a) is a pure function of the
chip seed and a, computed with integer hashing only, so it is the same on CPU and
GPU and for any batching.

The paper draws a dense field u ~ U(0,1)^(W x m) per chip. Drawing only the faulty
bits is much cheaper at small p, so u is generated *sparsely* with the same law.
Addresses are grouped in blocks of 4096 bits; in each block a random permutation
(a 4-round Feistel network on 12 bits) ranks the bits, and nested counts
N_0 = 4096 >= N_1 >= N_2 >= ... say that the bits of rank r < N_j have u < rate_j,
with rate_0 = 1, rate_1 = 2^-4 and rate_(j+1) = rate_j / 2. N_1 ~ Binomial(4096, 2^-4)
comes from an exact inverse-CDF table, N_(j+1) ~ Binomial(N_j, 1/2) from popcounts of
hashed words. A bit whose rank lies in [N_(j+1), N_j) has
u = rate_(j+1) + (rate_j - rate_(j+1)) h / 2^32, with h a 32-bit hash of (block, rank).
Each u is then uniform on [0, 1) (to 2^-32 within its level) and independent of the
others, and the faulty set at rate p only needs the ranks below N_j for
rate_(j+1) <= p < rate_j: about 2 p 4096 candidates per block instead of 4096 draws.
At high rates (p >= 5%, where a block's candidates are most of its bits) the same u is evaluated
densely instead, a few blocks at a time: the inverse permutation gives every position's
rank (the Feistel rounds as 64-entry tables per block), the rank and its value hash say
whether u < p, and the mask is packed straight into XOR words -- no address lists.

Transient errors (the BNN papers' model) are fresh i.i.d. flips at every read: each
read is a chip nobody has seen before, ``RandomBitErrors(p, seed=fresh_seed)``
(:class:`bitrobust.evaluation.TransientReads` derives one seed per trial and rate).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Iterator
from fractions import Fraction

import torch

from bitrobust.bit_errors.hashing import derive_key, hash_keys, low_bits_mask, mix64, mix64_, popcount64, srl
from bitrobust.errors import BitrobustError

BLOCK_LOG2 = 12
BLOCK_BITS = 1 << BLOCK_LOG2
HALF_LOG2 = BLOCK_LOG2 // 2
FIRST_RATE_LOG2 = 4  # rate_1 = 2^-4
LEVELS = 58  # rate_LEVELS = 2^-61; below it u is uniform on [0, rate_LEVELS)
_PURPOSE_COUNT, _PURPOSE_PERM, _PURPOSE_VALUE = 1, 2, 3
_FEISTEL_ROUNDS = 4
DEFAULT_CHIP_SALT = 20210407  # fixes the seeds of the default chips 0, 1, 2, ...
MAX_WORD_BITS = 32  # the widest stored word (fp32)
DENSE_MIN_RATE = 0.05  # rates p >= this are evaluated densely (measured: faster than sparse there)
_DENSE_CHUNK_BLOCKS = {"cpu": 256}  # blocks per dense step: 1M bits, cache-sized yet few parallel regions; others: 4096
_SIGN = -(1 << 63)
# 8 bools (bytes 0..7 of a little-endian int64) times sum_k 2^(56 - 7k): byte k's bit lands on bit 56 + k
_PACK8 = sum(1 << (56 - 7 * k) for k in range(8))


def check_rate(p: float) -> float:
    """``p`` as a float, or a BitrobustError if it is not a rate in [0, 1].

    >>> check_rate(0.01)
    0.01
    """
    p = float(p)
    if math.isnan(p) or not 0.0 <= p <= 1.0:
        raise BitrobustError(f"bit error rate p must be in [0, 1], got {p}")
    return p


def chip_seed(chip: int, salt: int = DEFAULT_CHIP_SALT) -> int:
    """The fixed seed of default chip number ``chip``.

    >>> chip_seed(0) == RandomBitErrors(0.01, chip=0).seed
    True
    """
    return derive_key(salt, chip) & ((1 << 62) - 1)


def level_rate(j: int) -> Fraction:
    """rate_j: 1, then 2^-4, 2^-5, ...; 0 below the last level."""
    if j == 0:
        return Fraction(1)
    if j > LEVELS:
        return Fraction(0)
    return Fraction(1, 2 ** (FIRST_RATE_LOG2 + j - 1))


def level_of_rate(p: float) -> int:
    """j with rate_(j+1) <= p < rate_j (p < 1)."""
    _, e = math.frexp(p)  # 2^(e-1) <= p < 2^e
    return 0 if -e < FIRST_RATE_LOG2 else min(LEVELS, -e - FIRST_RATE_LOG2 + 1)


@functools.lru_cache(maxsize=None)
def _first_level_table() -> torch.Tensor:
    """T[k] = floor(2^62 P(X <= k)), X ~ Binomial(4096, 2^-4), with exact integers."""
    n, q = BLOCK_BITS, 2**FIRST_RATE_LOG2  # P(X = i) = C(n, i) (q-1)^(n-i) / q^n
    term, cum, table = (q - 1) ** n, 0, []
    shift = n * FIRST_RATE_LOG2
    for i in range(n + 1):
        cum += term
        table.append((cum << 62) >> shift)
        if i < n:
            term = term * (n - i) // ((i + 1) * (q - 1))
    return torch.tensor(table, dtype=torch.int64)


class _ChipBlocks:
    """Per-block randomness of one chip for a set of blocks: counts, permutation, values."""

    def __init__(self, seed: int, blocks: torch.Tensor) -> None:
        self.blocks = blocks
        base = hash_keys(derive_key(seed), blocks)
        self._count_key = mix64(base ^ _PURPOSE_COUNT)
        self._value_key = mix64(base ^ _PURPOSE_VALUE)
        perm = mix64(base ^ _PURPOSE_PERM)
        self._round_keys = [mix64(perm + i) for i in range(_FEISTEL_ROUNDS)]
        self._round_key_rows = torch.stack(self._round_keys[::-1], 1)[:, :, None]  # last round first

    def counts(self, depth: int) -> list[torch.Tensor]:
        """[N_0, ..., N_depth] per block (see the module docstring)."""
        out = [torch.full_like(self.blocks, BLOCK_BITS)]
        if depth >= 1:
            table = _first_level_table().to(self.blocks.device)
            out.append(torch.searchsorted(table, srl(self._count_key, 2), right=True))
        for j in range(2, depth + 1):
            n = out[-1]
            words = (int(n.max()) + 63) >> 6 if len(n) else 0
            if words == 0:
                out.extend([n] * (depth + 1 - j))
                break
            w = torch.arange(words, device=n.device)
            remaining = (n[:, None] - 64 * w).clamp(0, 64)
            h = mix64(self._count_key[:, None] + ((j << 16) + w))
            out.append(popcount64(h & low_bits_mask(remaining)).sum(1))
        return out

    def value_hash(self, idx: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
        """32-bit hash h(block, rank) placing u inside its level."""
        return srl(mix64(self._value_key[idx] + rank), 32)

    def _round(self, i: int, idx: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
        return mix64(self._round_keys[i].index_select(0, idx) + half) & ((1 << HALF_LOG2) - 1)

    def position(self, idx: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
        """Feistel permutation rank -> bit position within the block."""
        left, right = rank >> HALF_LOG2, rank & ((1 << HALF_LOG2) - 1)
        for i in range(_FEISTEL_ROUNDS):
            left, right = right, left ^ self._round(i, idx, right)
        return (left << HALF_LOG2) | right

    def rank(self, idx: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Inverse permutation: bit position -> rank."""
        left, right = position >> HALF_LOG2, position & ((1 << HALF_LOG2) - 1)
        for i in reversed(range(_FEISTEL_ROUNDS)):
            left, right = right ^ self._round(i, idx, left), left
        return (left << HALF_LOG2) | right

    def all_ranks(self, lo: int, hi: int, work: torch.Tensor) -> torch.Tensor:
        """Ranks of all 4096 positions of blocks lo..hi-1 ([blocks, 4096], in ``work[0]``; :meth:`rank`).

        ``work``: int64 [3, blocks, 4096] scratch. Each round function only sees 6 bits, so
        per block it is a 64-entry table and a round is a gather; the first inverse
        round's input (the left half of the position) is the row of a 64 x 64 grid.
        """
        half = torch.arange(1 << HALF_LOG2, device=work.device)
        tables = mix64(self._round_key_rows[lo:hi] + half) & ((1 << HALF_LOG2) - 1)  # [blocks, round, 64]
        b, a, c = work  # a = right ^ F_3(left); b = left ^ F_2(a); c = a ^ F_1(b); left_4 = b ^ F_0(c)
        torch.bitwise_xor(tables[:, 0, :, None], half, out=a.view(len(a), 1 << HALF_LOG2, 1 << HALF_LOG2))
        torch.gather(tables[:, 1], 1, a, out=b)
        b ^= half.repeat_interleave(1 << HALF_LOG2)
        torch.gather(tables[:, 2], 1, b, out=c)
        c ^= a
        torch.gather(tables[:, 3], 1, c, out=a)
        b ^= a
        b <<= HALF_LOG2
        return b.bitwise_or_(c)  # (left_4, right_4 = c)


def _blocks_of(start: int, stop: int, device) -> torch.Tensor:
    return torch.arange(start >> BLOCK_LOG2, ((stop - 1) >> BLOCK_LOG2) + 1, device=device)


class RandomBitErrors:
    """Persistent random bit errors of one chip at rate ``p`` (contract 2).

    ``RandomBitErrors(0.01, chip=3).apply(codes, bits=8)`` returns the words with the
    chip's faulty bits flipped; ``word_offset`` places the words in the chip's memory.

    >>> chip = RandomBitErrors(0.01, chip=0)
    >>> chip.flip_addresses(0, 1024).sort().values.tolist()
    [0, 136, 249, 408, 438, 535, 578, 582, 655, 707, 984, 1013]
    >>> noisy = chip.apply(torch.zeros(128, dtype=torch.uint8), bits=8)
    >>> noisy.nonzero().flatten().tolist(), noisy[[0, 17, 31]].tolist()
    ([0, 17, 31, 51, 54, 66, 72, 81, 88, 123, 126], [1, 1, 2])
    """

    def __init__(self, p: float, chip: int = 0, seed: int | None = None) -> None:
        self.p = check_rate(p)
        self.chip = chip
        self.seed = chip_seed(chip) if seed is None else int(seed)

    def __repr__(self) -> str:
        return f"RandomBitErrors(p={self.p}, chip={self.chip}, seed={self.seed})"

    def flip_addresses(self, start: int, stop: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Bit addresses a in [start, stop) with u(a) < p, in no particular order (int64)."""
        if self.p == 0.0 or stop <= start:
            return torch.zeros(0, dtype=torch.int64, device=device)
        if self.p >= 1.0:
            return torch.arange(start, stop, device=device)
        if self.p < DENSE_MIN_RATE:
            return self._sparse_addresses(start, stop, device)
        step = _dense_step(device)
        masks = self._dense_masks(start, stop, step, device)
        return torch.cat([torch.nonzero(m).flatten() + s for s, m in zip(range(start, stop, step), masks)])

    def _level(self) -> tuple[int, int]:
        """(j, threshold): rate_(j+1) <= p < rate_j, and for ranks in [N_(j+1), N_j) u < p iff h < threshold."""
        j = level_of_rate(self.p)
        # u = lo + (hi - lo) h / 2^32 < p  <=>  h < (p - lo) 2^32 / (hi - lo), exactly
        lo, hi = level_rate(j + 1), level_rate(j)
        return j, math.ceil((Fraction(self.p) - lo) * 2**32 / (hi - lo))

    def _sparse_addresses(self, start: int, stop: int, device: torch.device | str) -> torch.Tensor:
        """:meth:`flip_addresses` from the candidate ranks only (0 < p < 1; any level, fastest at low p)."""
        chip = _ChipBlocks(self.seed, _blocks_of(start, stop, device))
        j, threshold = self._level()
        counts = chip.counts(min(j + 1, LEVELS))
        cand = counts[j]  # ranks with u < rate_j: the candidates
        sure = counts[j + 1] if j < LEVELS else torch.zeros_like(cand)  # u < rate_(j+1) <= p
        total = int(cand.sum())
        if total == 0:
            return torch.zeros(0, dtype=torch.int64, device=device)
        # ranks < N_(j+1) always flip; ranks in [N_(j+1), N_j) flip iff their value hash says u < p
        block = torch.arange(len(cand), device=device)
        n_test = cand - sure
        t_total = int(n_test.sum())
        t_idx = torch.repeat_interleave(block, n_test, output_size=t_total)
        # rank = position in the test list - (start of the block's segment) + N_(j+1)
        t_base = torch.repeat_interleave(torch.cumsum(n_test, 0) - n_test - sure, n_test, output_size=t_total)
        t_rank = torch.arange(t_total, device=device) - t_base
        t_key = torch.repeat_interleave(chip._value_key, n_test, output_size=t_total)
        ok = srl(mix64(t_key + t_rank), 32) < threshold  # == chip.value_hash(t_idx, t_rank) < threshold
        s_total = int(sure.sum())
        s_idx = torch.repeat_interleave(block, sure, output_size=s_total)
        s_rank = torch.arange(s_total, device=device) - torch.repeat_interleave(
            torch.cumsum(sure, 0) - sure, sure, output_size=s_total
        )
        idx = torch.cat([s_idx, t_idx[ok]])
        rank = torch.cat([s_rank, t_rank[ok]])
        addr = (chip.blocks.index_select(0, idx) << BLOCK_LOG2) | chip.position(idx, rank)
        if start & (BLOCK_BITS - 1) or stop & (BLOCK_BITS - 1):
            addr = addr[(addr >= start) & (addr < stop)]
        return addr

    def _dense_masks(self, start: int, stop: int, step: int, device: torch.device | str) -> Iterator[torch.Tensor]:
        """Bool masks u(a) < p of [start, stop), ``step`` bits at a time (DENSE_MIN_RATE <= p < 1).

        Each mask is a view of a buffer that the next one overwrites: use it before asking for the next.
        """
        chip = _ChipBlocks(self.seed, _blocks_of(start, stop, device))
        j, threshold = self._level()
        counts = chip.counts(j + 1)
        cand, sure = counts[j][:, None], counts[j + 1][:, None]
        first = start >> BLOCK_LOG2
        rows = ((step - 1) >> BLOCK_LOG2) + 2  # blocks that ``step`` bits can touch
        work = torch.empty(3, rows, BLOCK_BITS, dtype=torch.int64, device=device)
        flags = torch.empty(2, rows, BLOCK_BITS, dtype=torch.bool, device=device)
        for s in range(start, stop, step):
            e = min(stop, s + step)
            lo, hi = (s >> BLOCK_LOG2) - first, ((e - 1) >> BLOCK_LOG2) + 1 - first
            rank = chip.all_ranks(lo, hi, work[:, : hi - lo])
            h, mask, other = work[1, : hi - lo], flags[0, : hi - lo], flags[1, : hi - lo]
            mix64_(torch.add(rank, chip._value_key[lo:hi, None], out=h), work[2, : hi - lo])
            if threshold < 1 << 32:  # (h >> 32) < threshold, as a signed comparison of h ^ 2^63
                torch.lt(h.bitwise_xor_(_SIGN), (threshold << 32) + _SIGN, out=mask)
            else:
                mask.fill_(True)
            if j:
                mask &= torch.lt(rank, cand[lo:hi], out=other)
            mask |= torch.lt(rank, sure[lo:hi], out=other)
            offset = s - ((first + lo) << BLOCK_LOG2)
            yield mask.view(-1)[offset : offset + e - s]

    def uniform(self, addresses: torch.Tensor) -> torch.Tensor:
        """u(a) for the given bit addresses (exact in float64): the dense definition."""
        a = addresses.to(torch.int64)
        blocks, inverse = torch.unique(a >> BLOCK_LOG2, return_inverse=True)
        chip = _ChipBlocks(self.seed, blocks)
        counts = chip.counts(LEVELS)
        rank = chip.rank(inverse, a & (BLOCK_BITS - 1))
        level = sum((rank < n[inverse]).to(torch.int64) for n in counts[1:])  # r in [N_(l+1), N_l)
        rates = torch.tensor([float(level_rate(j)) for j in range(LEVELS + 2)], dtype=torch.float64)
        lo, hi = rates[level + 1], rates[level]
        h = chip.value_hash(inverse, rank).to(torch.float64)
        return lo + (hi - lo) * (h / 2.0**32)

    def apply(self, codes: torch.Tensor, bits: int, word_offset: int = 0, *, bit_offset: int | None = None) -> torch.Tensor:
        """Words ``codes`` (``bits`` bits each, stored from bit address ``bit_offset``, or else at word
        ``word_offset``: address ``word_offset * bits``) with faulty bits flipped.

        >>> chip = RandomBitErrors(0.1, chip=0)
        >>> chip.apply(torch.zeros(4, dtype=torch.int64), 16, bit_offset=48).equal(
        ...     chip.apply(torch.zeros(4, dtype=torch.int64), 16, word_offset=3))
        True
        """
        flat = codes.reshape(-1)
        start = start_address(bits, word_offset, bit_offset)
        stop = start + flat.numel() * bits
        if not DENSE_MIN_RATE <= self.p < 1.0 or stop <= start:
            return flip_bits(flat, bits, self.flip_addresses(start, stop, flat.device) - start).view(codes.shape)
        out = torch.empty_like(flat)
        step = max(1, _dense_step(flat.device) // bits)  # words per mask
        masks = self._dense_masks(start, stop, step * bits, flat.device)
        for w, mask in zip(range(0, flat.numel(), step), masks):
            torch.bitwise_xor(flat[w : w + step], _pack_flips(mask.view(-1, bits), flat.dtype), out=out[w : w + step])
        return out.view(codes.shape)


def start_address(bits: int, word_offset: int = 0, bit_offset: int | None = None) -> int:
    """The first bit address of words ``bits`` wide stored from ``bit_offset`` (layout v2), or else at word
    ``word_offset`` (contract 2: ``word_offset * bits``).

    >>> start_address(8, 3), start_address(16, bit_offset=24)
    (24, 24)
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_WORD_BITS:
        raise BitrobustError(f"a word has 1..{MAX_WORD_BITS} bits, got {bits!r}")
    start = int(word_offset) * bits if bit_offset is None else int(bit_offset)
    if start < 0:
        raise BitrobustError(f"bit addresses start at 0, got {start}")
    return start


def _dense_step(device: torch.device | str) -> int:
    """Bits per dense mask on ``device``."""
    return _DENSE_CHUNK_BLOCKS.get(torch.device(device).type, 4096) * BLOCK_BITS


def _pack_flips(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """One word per row of a bool [words, bits] mask: bit j of word i is ``mask[i, j]``.

    >>> _pack_flips(torch.tensor([[True, False, True], [False, True, True]]), torch.uint8).tolist()
    [5, 6]
    """
    bits = mask.shape[1]
    if bits == 8 and sys.byteorder == "little" and mask.is_contiguous():  # one multiply per word
        return srl(mask.view(torch.int64).view(-1) * _PACK8, 56).to(dtype)
    if bits <= 8:
        weights = (1 << torch.arange(bits, device=mask.device)).to(torch.uint8)
        return (mask.view(torch.uint8) * weights).sum(1, dtype=torch.uint8).to(dtype)
    return (mask.to(torch.int64) << torch.arange(bits, device=mask.device)).sum(1).to(dtype)


def flip_bits(codes: torch.Tensor, bits: int, addresses: torch.Tensor) -> torch.Tensor:
    """Flip bit (a mod m) of word (a div m) for each (distinct) bit address a of flat ``codes``.

    >>> flip_bits(torch.tensor([0, 5], dtype=torch.uint8), 8, torch.tensor([0, 9])).tolist()
    [1, 7]
    """
    if addresses.numel() == 0:
        return codes.clone()
    words = torch.div(addresses, bits, rounding_mode="floor")
    masks = torch.ones_like(addresses) << (addresses - words * bits)
    # distinct bits of one word: sum == or; accumulate in the words' own dtype when the
    # word fits (uint8 codes: 8x less memory to clear, add into and convert than int64)
    acc = codes.dtype if codes.dtype == torch.uint8 else torch.int64
    xor = torch.zeros(codes.numel(), dtype=acc, device=codes.device)
    xor.index_add_(0, words, masks.to(acc))
    return codes ^ xor.to(codes.dtype)
