"""SECDED ECC: an extended Hamming code over k-bit chunks of the data region's bit stream (DESIGN contract 6).

The data region's bit stream (contract 2 order: bit j of word i at i*m + j) is cut into
consecutive k-bit codewords, k in {8, 16, 32, 64}, the last one zero-padded. Each gets
r Hamming check bits (the smallest r with 2^r >= k + r + 1) and one overall parity bit:
an (n, k) code with n = k + r + 1 = 13, 22, 39, 72 that corrects any single flipped bit
of the n and detects any two (Hamming, "Error detecting and error correcting codes",
Bell System Technical Journal, 1950). Check bits are stored in the ECC region, after
data and metadata, r + 1 per codeword, and can flip like any other bit.

Layout of one codeword: data bit i (stream position c*k + i of codeword c) has the
r-bit Hamming column h_i = the i-th integer >= 3 that is not a power of two; Hamming
check bit t (t < r) has column 2^t; check bit r is the overall parity, which makes
the n bits' parity even. Check bits of codeword c sit at ECC-region positions
c*(r + 1) + t. Encoding is linear over GF(2): the check word (bit t = check bit t) is
the XOR of G_i = h_i + 2^r (1 + popcount(h_i) mod 2) over the set data bits.

Decoding reads (d', c') and forms the syndrome word S = encode(d') XOR c', which by
linearity is encode(e_d) XOR e_c for the error pattern e: it depends on the flips only.
Its low r bits s are the XOR of the flipped bits' columns and popcount(S) mod 2 is the
parity of the whole read codeword, so: S = 0 clean; odd parity with s = h_i: flip data
bit i back; odd parity with s = 0 or a power of two: a check bit flipped (data intact);
otherwise (even parity with s != 0: two flips; odd with s no column: three or more)
detected, uncorrectable. Two flips always have even parity and s != 0 (the columns are
distinct), so they are never miscorrected; three or more may be. On a detected word the
policy ``keep`` uses the data bits as read, ``zero`` zeroes the codeword's data bits.

Everything is vectorized over all codewords: data bits are packed into bytes, a codeword
is k/8 bytes, and the check word is the XOR of k/8 lookups in a 256-entry table per byte
position; the syndrome selects its action in a 2^(r+1)-entry table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from bitrobust.bit_errors.bitstream import (
    bytes_to_words,
    pack_stream,
    unpack_stream,
    words_to_bytes,
)
from bitrobust.errors import BitrobustError
from bitrobust.registry import Registry

SECDED_K = (8, 16, 32, 64)
POLICIES = ("keep", "zero")
# actions in the decode table besides "flip data bit i" (i >= 0)
_CLEAN, _CHECK_BIT, _DETECTED = -1, -2, -3


@dataclass(frozen=True)
class EccCounts:
    """What one decode saw: codewords, corrected ones (one flip, data or check bit) and detected-uncorrectable ones.

    >>> EccCounts(codewords=10, corrected=2, detected=1).clean
    7
    """

    codewords: int
    corrected: int
    detected: int

    @property
    def clean(self) -> int:
        """Codewords with syndrome 0 (no flip, or an undetectable pattern)."""
        return self.codewords - self.corrected - self.detected


@dataclass(frozen=True)
class Secded:
    """The (n, k) extended Hamming SECDED code over k-bit chunks of a bit stream; k in 8, 16, 32, 64.

    >>> code = Secded(k=64)
    >>> code.n, code.check_bits, code.overhead, code.name
    (72, 8, 1.125, 'secded64')
    >>> data = torch.zeros(100, dtype=torch.bool)
    >>> data[7] = True
    >>> check = code.encode(data)  # 2 codewords (the second zero-padded) x 8 check bits
    >>> check.shape
    torch.Size([16])
    >>> data[70] = True  # one flip in codeword 1: corrected
    >>> fixed, counts = code.decode(data, check)
    >>> int(fixed.sum()), counts
    (1, EccCounts(codewords=2, corrected=1, detected=0))
    """

    k: int = 64

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or self.k not in SECDED_K:
            raise BitrobustError(f"SECDED data bits k must be one of {', '.join(map(str, SECDED_K))}, got {self.k!r}")

    @property
    def hamming_bits(self) -> int:
        """r: the smallest r with 2^r >= k + r + 1 (4, 5, 6, 7 for k = 8, 16, 32, 64)."""
        r = 1
        while (1 << r) < self.k + r + 1:
            r += 1
        return r

    @property
    def check_bits(self) -> int:
        """n - k = r + 1 stored check bits per codeword (r Hamming bits, then the overall parity)."""
        return self.hamming_bits + 1

    @property
    def n(self) -> int:
        """Codeword length: k data bits + r + 1 check bits."""
        return self.k + self.check_bits

    @property
    def overhead(self) -> float:
        """Storage per data bit, n / k (1.125 for (72, 64))."""
        return self.n / self.k

    @property
    def name(self) -> str:
        """The registry name, ``secded<k>``."""
        return f"secded{self.k}"

    def columns(self) -> tuple[int, ...]:
        """h_i, the Hamming column of data bit i: the integers >= 3 that are not powers of two, in order.

        >>> Secded(8).columns()
        (3, 5, 6, 7, 9, 10, 11, 12)
        """
        return _columns(self.k, self.hamming_bits)

    def codewords(self, data_bits: int) -> int:
        """ceil(data_bits / k): codewords over a stream of ``data_bits`` bits.

        >>> Secded(64).codewords(44_000_000)
        687500
        """
        return -(-int(data_bits) // self.k)

    # -- bit streams ---------------------------------------------------------------------------
    def encode(self, data_bits: torch.Tensor) -> torch.Tensor:
        """Check bits (bool, ``codewords(L) * check_bits``) of an L-bit data stream (bool or 0/1 integers).

        Check bit t of codeword c is at index c * check_bits + t (t = check_bits - 1: overall parity).

        >>> Secded(8).encode(torch.zeros(8, dtype=torch.bool)).int().tolist()  # a zero word: zero check bits
        [0, 0, 0, 0, 0]
        """
        flat = _as_bits(data_bits, "data bits")
        return self._unpack_checks(self._compute_checks(self._blocks(pack_stream(flat), flat.numel())))

    def decode(
        self, data_bits: torch.Tensor, check_bits: torch.Tensor, policy: str = "keep"
    ) -> tuple[torch.Tensor, EccCounts]:
        """(Corrected data bits, counts) from the data and check bits as read; policy ``keep`` or ``zero``.

        The result has the data bits' length and dtype; ``check_bits`` as :meth:`encode` returns them.

        >>> code = Secded(8)
        >>> data = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0], dtype=torch.bool)
        >>> check = code.encode(data)
        >>> read = data.clone(); read[[0, 5]] ^= True  # two flips: detected
        >>> code.decode(read, check, policy="zero")[0].int().tolist(), code.decode(read, check)[1].detected
        ([0, 0, 0, 0, 0, 0, 0, 0], 1)
        """
        _check_policy(policy)
        flat = _as_bits(data_bits, "data bits")
        n = flat.numel()
        stored = self._pack_checks(check_bits, n)
        data, counts = self._decode_bytes(pack_stream(flat), n, stored, policy)
        return unpack_stream(data, n).to(flat.dtype), counts

    # -- m-bit words (no bit unpacking for m = 8, 16, 32, 64) -------------------------------------
    def encode_words(self, words: torch.Tensor, m: int) -> torch.Tensor:
        """:meth:`encode` of the stream of m-bit words (bit j of word i at i*m + j).

        >>> code = Secded(16)
        >>> words = torch.tensor([5, 250, 17], dtype=torch.uint8)
        >>> from bitrobust.bit_errors.bitstream import words_to_bits
        >>> torch.equal(code.encode_words(words, 8), code.encode(words_to_bits(words, 8)))
        True
        """
        data = words_to_bytes(words, m)
        return self._unpack_checks(self._compute_checks(self._blocks(data, words.numel() * m)))

    def decode_words(
        self, words: torch.Tensor, m: int, check_bits: torch.Tensor, policy: str = "keep"
    ) -> tuple[torch.Tensor, EccCounts]:
        """:meth:`decode` on m-bit words: (corrected words of ``words``' shape and dtype, counts).

        >>> code = Secded(64)
        >>> words = torch.arange(20, dtype=torch.uint8)
        >>> check = code.encode_words(words, 8)
        >>> read = words.clone(); read[3] ^= 16; read[12] ^= 1  # one flip in each of two codewords
        >>> fixed, counts = code.decode_words(read, 8, check)
        >>> torch.equal(fixed, words), counts.corrected
        (True, 2)
        """
        _check_policy(policy)
        length = words.numel() * m
        stored = self._pack_checks(check_bits, length)
        data, counts = self._decode_bytes(words_to_bytes(words, m), length, stored, policy)
        return bytes_to_words(data, m, words.numel(), words.dtype).view(words.shape), counts

    # -- the vectorized core: bytes, k/8 per codeword --------------------------------------------
    def _blocks(self, data: torch.Tensor, length: int) -> torch.Tensor:
        """(codewords, k/8) bytes of a packed stream of ``length`` bits, the last codeword zero-padded (a copy)."""
        rows, kb = self.codewords(length), self.k // 8
        blocks = torch.zeros(rows * kb, dtype=torch.uint8, device=data.device)
        blocks[: data.numel()] = data
        return blocks.view(rows, kb)

    def _compute_checks(self, blocks: torch.Tensor) -> torch.Tensor:
        """Check word (uint8, bit t = check bit t) per codeword of ``blocks``: XOR over data bits i of d_i G_i."""
        table = _encode_table(self.k, self.hamming_bits, str(blocks.device))
        kb = blocks.shape[1]
        offsets = torch.arange(0, 256 * kb, 256, dtype=torch.int32, device=blocks.device)
        parts = table.index_select(0, (blocks.to(torch.int32) + offsets).view(-1)).view(-1, kb)
        while parts.shape[1] > 1:  # XOR-reduce the k/8 byte contributions pairwise
            half = parts.shape[1] // 2
            parts = parts[:, :half] ^ parts[:, half:]
        return parts[:, 0]

    def _unpack_checks(self, words: torch.Tensor) -> torch.Tensor:
        """Check words (one per codeword) as the flat check-bit stream: bit t of word c at c * check_bits + t."""
        shifts = torch.arange(self.check_bits, dtype=torch.uint8, device=words.device)
        return ((words[:, None] >> shifts) & 1).bool().reshape(-1)

    def _pack_checks(self, check_bits: torch.Tensor, length: int) -> torch.Tensor:
        """The inverse of :meth:`_unpack_checks`, after checking the stream fits ``length`` data bits."""
        flat = _as_bits(check_bits, "check bits")
        expected = self.codewords(length) * self.check_bits
        if flat.numel() != expected:
            raise BitrobustError(
                f"{self.name}: {length} data bits need {expected} check bits "
                f"({self.codewords(length)} codewords x {self.check_bits}), got {flat.numel()}"
            )
        weights = (1 << torch.arange(self.check_bits, device=flat.device)).to(torch.uint8)
        return (flat.view(-1, self.check_bits).to(torch.uint8) * weights).sum(1, dtype=torch.uint8)

    def _decode_bytes(
        self, data: torch.Tensor, length: int, stored: torch.Tensor, policy: str
    ) -> tuple[torch.Tensor, EccCounts]:
        blocks = self._blocks(data, length)
        syndrome = self._compute_checks(blocks) ^ stored  # = encode(e_d) ^ e_c (linearity)
        action = _decode_table(self.k, self.hamming_bits, str(blocks.device))[syndrome.to(torch.int64)]
        # bins: 0 detected, 1 check bit corrected, 2 clean, 3 data bit corrected
        tally = torch.bincount((action.to(torch.int64) - _DETECTED).clamp(max=3), minlength=4).tolist()
        fix = (action >= 0).nonzero().squeeze(1)
        if fix.numel():
            bit = action[fix].to(torch.int64)
            flat = blocks.view(-1)
            where = fix * blocks.shape[1] + bit // 8
            flat[where] ^= torch.bitwise_left_shift(torch.ones_like(bit), bit % 8).to(torch.uint8)
        if policy == "zero":
            blocks[action == _DETECTED] = 0
        counts = EccCounts(codewords=blocks.shape[0], corrected=tally[1] + tally[3], detected=tally[0])
        return blocks.view(-1)[: data.numel()], counts


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise BitrobustError(f"unknown ECC policy {policy!r}; valid: {', '.join(POLICIES)}")


def _as_bits(bits: torch.Tensor, what: str) -> torch.Tensor:
    """Flat bits; a BitrobustError unless bool or an integer tensor of 0s and 1s."""
    flat = bits.reshape(-1)
    if flat.dtype == torch.bool:
        return flat
    if flat.is_floating_point() or flat.is_complex():
        raise BitrobustError(f"{what} must be a bool or 0/1 integer tensor, got {flat.dtype}")
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) > 1):
        raise BitrobustError(f"{what} must be 0 or 1, got values in [{int(flat.min())}, {int(flat.max())}]")
    return flat


@functools.cache
def _columns(k: int, r: int) -> tuple[int, ...]:
    return tuple(c for c in range(3, 1 << r) if c & (c - 1))[:k]


def _generator_column(h: int, r: int) -> int:
    """G_i: h_i in the Hamming bits, and the overall parity bit 1 + popcount(h_i) mod 2 (data bit + its checks)."""
    return h | (((1 + h.bit_count()) & 1) << r)


@functools.cache
def _encode_table(k: int, r: int, device: str) -> torch.Tensor:
    """(k/8 * 256,) uint8: entry 256 b + v = XOR of G_(8b + j) over the set bits j of byte value v."""
    gen = [_generator_column(h, r) for h in _columns(k, r)]
    table = []
    for b in range(k // 8):
        for v in range(256):
            word = 0
            for j in range(8):
                if v >> j & 1:
                    word ^= gen[8 * b + j]
            table.append(word)
    return torch.tensor(table, dtype=torch.uint8, device=device)


@functools.cache
def _decode_table(k: int, r: int, device: str) -> torch.Tensor:
    """(2^(r+1),) int8: the action for syndrome word S -- data bit to flip, or clean / check bit / detected."""
    data_bit = {h: i for i, h in enumerate(_columns(k, r))}
    actions = []
    for syndrome in range(1 << (r + 1)):
        s, odd = syndrome & ((1 << r) - 1), syndrome.bit_count() & 1
        if syndrome == 0:
            actions.append(_CLEAN)
        elif odd and s & (s - 1) == 0:  # s = 0 (the overall parity bit) or 2^t (Hamming check bit t)
            actions.append(_CHECK_BIT)
        elif odd and s in data_bit:
            actions.append(data_bit[s])
        else:  # even parity with s != 0 (two flips), or odd with s no column (three or more)
            actions.append(_DETECTED)
    return torch.tensor(actions, dtype=torch.int8, device=device)


SECDED_CODES: Registry[Secded] = Registry("ECC code")
for _k in SECDED_K:
    SECDED_CODES.add(Secded(_k).name, Secded(_k))


def secded_code(name: str) -> Secded:
    """The code registered as ``name``: ``secded8``, ``secded16``, ``secded32`` or ``secded64`` (= (72, 64)).

    >>> secded_code("secded64").n
    72
    """
    return SECDED_CODES.get(name)
