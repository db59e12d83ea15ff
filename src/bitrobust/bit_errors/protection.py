"""Protection, targeting and SECDED ECC in the read path of the weight memory (DESIGN contract 6).

A :class:`Protection` says which stored bits may read wrong. Protected bits (``protect_bits``: ``msb``,
``sign``, ``exponent``, ``mantissa`` or bit positions) and protected tensors (``protect_tensors``: name
globs) sit in reliable memory; targeting confines the errors to chosen tensors (``target_tensors``) and bit
positions (``target_bits``); metadata words (per-channel/group ranges, contract 5) are reliable unless
``expose_metadata``. Bit fields are resolved per word: the sign, exponent and mantissa of a float format's
words, ``msb`` = bit m-1 of an m-bit word (the sign of two's-complement and float words), and for metadata
words those of their fp16 patterns. Everything else is read error-free: a word w read as w' by the memory is
returned as w XOR ((w XOR w') AND allowed), which holds for flips and stuck-at cells alike.

With ``ecc`` (``secded8`` .. ``secded64``, :mod:`bitrobust.bit_errors.ecc`) the data region's bit stream is
cut into k-bit codewords whose check bits (r + 1 per codeword) are stored in the ECC region of layout v2,
right after the metadata region: the check bits of codeword c are one (r+1)-bit word whose first bit address is
(end of metadata) + c (r + 1). They flip like any memory -- unless a target is set, which confines the errors
to the targeted words -- and every read is decoded with the policy ``keep`` or ``zero`` on detected,
uncorrectable codewords (``zero`` zeroes the codeword's data bits, protected ones included).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, fields
from typing import Any, Sequence

import torch

from bitrobust.bit_errors.bitstream import bits_to_words, words_to_bits
from bitrobust.bit_errors.ecc import POLICIES, EccCounts, Secded, secded_code
from bitrobust.errors import BitrobustError
from bitrobust.formats.floats import FloatTensor, float_fields
from bitrobust.quantization.fixed_point import METADATA_BITS
from bitrobust.quantization.layout import ErrorModel, Segment, read_segment
from bitrobust.quantization.model import EncodedTensor, QuantizedState

BIT_FIELDS = ("msb", "sign", "exponent", "mantissa")
"""Named bit fields of a word (besides bit positions 0, 1, ...)."""
PROTECTION_FIELDS = ("protect_bits", "protect_tensors", "target_tensors", "target_bits", "expose_metadata", "ecc",
                     "ecc_policy")
"""The names of the protection settings: :class:`Protection`'s fields, the keys of a recipe's ``eval`` section
and of the evaluation settings, and the ``bitrobust eval`` flags (with - for _)."""


def parse_bits(spec: Any) -> str | None:
    """The canonical spelling of a bit selection: named fields and positions, comma-separated (None: none).

    >>> parse_bits("Sign, exponent"), parse_bits(7), parse_bits([0, "msb", 0]), parse_bits("")
    ('sign,exponent', '7', '0,msb', None)
    """
    if spec is None:
        return None
    items = spec.split(",") if isinstance(spec, str) else [spec] if isinstance(spec, int) else list(spec)
    out: list[str] = []
    for item in items:
        token = str(item).strip().lower()
        if not token:
            continue
        if isinstance(item, bool) or not (token in BIT_FIELDS or token.isdigit()):
            raise BitrobustError(f"unknown bit field {str(item).strip()!r}; valid: {', '.join(BIT_FIELDS)}, "
                                 "or bit positions 0, 1, ... (comma-separated)")
        token = token if token in BIT_FIELDS else str(int(token))
        if token not in out:
            out.append(token)
    return ",".join(out) or None


def parse_globs(spec: Any) -> tuple[str, ...]:
    """Tensor-name globs from a comma-separated string or a sequence of them (empty: none).

    >>> parse_globs("fc*, conv1.*"), parse_globs(["a", "b,c"]), parse_globs(None)
    (('fc*', 'conv1.*'), ('a', 'b', 'c'), ())
    """
    if spec is None:
        return ()
    items = [spec] if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise BitrobustError(f"a tensor name glob must be a string, got {item!r}")
        out += [g.strip() for g in item.split(",") if g.strip() and g.strip() not in out]
    return tuple(out)


@dataclass(frozen=True)
class WordKind:
    """What the bits of a stored word mean: ``bits`` wide, a float pattern of ``float_dtype`` or an integer
    (two's complement if ``signed``); ``what`` names the words in messages."""

    bits: int
    float_dtype: torch.dtype | None = None
    signed: bool = False
    what: str = "words"

    def field(self, token: str, strict: bool = True) -> int:
        """The mask of a named field or bit position (``strict``: a position or field the word lacks is an
        error, else it selects nothing).

        >>> kind = WordKind(16, torch.float16)
        >>> hex(kind.field("sign")), hex(kind.field("exponent")), hex(kind.field("mantissa")), kind.field("3")
        ('0x8000', '0x7c00', '0x3ff', 8)
        """
        m = self.bits
        if token.isdigit():
            j = int(token)
            if j < m:
                return 1 << j
            if strict:
                raise BitrobustError(f"bit position {j} is outside the {m}-bit {self.what} (positions 0..{m - 1})")
            return 0
        if token == "msb" or (token == "sign" and (self.signed or self.float_dtype is not None)):
            return 1 << (m - 1)
        if self.float_dtype is not None:
            exponent, mantissa = float_fields(self.float_dtype)
            return (1 << mantissa) - 1 if token == "mantissa" else ((1 << exponent) - 1) << mantissa
        if strict:
            valid = "msb" + (", sign" if self.signed else "")
            raise BitrobustError(f"the {self.what} are {'signed' if self.signed else 'unsigned'} integers: they have "
                                 f"no {token} field; valid: {valid}, or positions 0..{m - 1}")
        return 0

    def mask(self, spec: str, strict: bool = True) -> int:
        """The union of the masks of a canonical selection (:func:`parse_bits`)."""
        out = 0
        for token in spec.split(","):
            out |= self.field(token, strict)
        return out


METADATA_KIND = WordKind(METADATA_BITS, torch.float16, what="metadata words (fp16)")


def data_kind(name: str, qt: EncodedTensor) -> WordKind:
    """The kind of tensor ``name``'s data words: float patterns, or integers (signed per its scheme).

    >>> from bitrobust.formats import get_format
    >>> data_kind("w", get_format("bf16").quantize(torch.ones(2))).float_dtype
    torch.bfloat16
    """
    what = f"data words of {name!r}"
    if isinstance(qt, FloatTensor):
        return WordKind(qt.bits, qt.float_dtype, what=what)
    scheme = getattr(qt, "scheme", None)
    return WordKind(qt.bits, signed=bool(getattr(scheme, "signed", False)), what=what)


@dataclass(frozen=True)
class Protection:
    """Which stored bits may read wrong, and SECDED ECC (see the module docstring). The default protects only
    the metadata: reads are exactly those of contract 2's chips.

    >>> p = Protection(protect_bits="msb", protect_tensors="fc*", ecc="secded64")
    >>> p.to_dict()
    {'protect_bits': 'msb', 'protect_tensors': ['fc*'], 'ecc': 'secded64'}
    >>> Protection().is_default, p.code.n
    (True, 72)
    """

    protect_bits: str | None = None
    protect_tensors: tuple[str, ...] = ()
    target_tensors: tuple[str, ...] = ()
    target_bits: str | None = None
    expose_metadata: bool = False
    ecc: str | None = None
    ecc_policy: str = "keep"

    def __post_init__(self) -> None:
        for name in ("protect_bits", "target_bits"):
            object.__setattr__(self, name, parse_bits(getattr(self, name)))
        for name in ("protect_tensors", "target_tensors"):
            object.__setattr__(self, name, parse_globs(getattr(self, name)))
        if not isinstance(self.expose_metadata, bool):
            raise BitrobustError(f"expose_metadata must be true or false, got {self.expose_metadata!r}")
        if self.ecc is not None:
            secded_code(self.ecc)  # a known code
        if self.ecc_policy not in POLICIES:
            raise BitrobustError(f"unknown ECC policy {self.ecc_policy!r}; valid: {', '.join(POLICIES)}")
        if self.ecc is None and self.ecc_policy != "keep":
            raise BitrobustError("an ECC policy needs an ECC code (ecc: secded8, secded16, secded32 or secded64)")

    @property
    def is_default(self) -> bool:
        return self == Protection()

    @property
    def targeted(self) -> bool:
        """Errors confined to chosen tensors or bits (the ECC check bits then read error-free)."""
        return bool(self.target_tensors) or self.target_bits is not None

    @property
    def code(self) -> Secded | None:
        return None if self.ecc is None else secded_code(self.ecc)

    def to_dict(self) -> dict:
        """The settings that differ from the defaults (globs as lists)."""
        out: dict = {}
        for name, default in ((f.name, f.default) for f in fields(Protection)):
            value = getattr(self, name)
            if value != default:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def tensor_exposed(self, name: str) -> bool:
        """May tensor ``name``'s words read wrong (not protected, and targeted if targets are set)?

        >>> Protection(target_tensors="fc*").tensor_exposed("conv.weight")
        False
        """
        if any(fnmatch.fnmatchcase(name, g) for g in self.protect_tensors):
            return False
        return not self.target_tensors or any(fnmatch.fnmatchcase(name, g) for g in self.target_tensors)

    def allowed(self, kind: WordKind, strict: bool = True) -> int:
        """The bits of a word of ``kind`` that may read wrong: the targeted bits (all if none) minus the
        protected ones.

        >>> hex(Protection(protect_bits="sign,exponent").allowed(WordKind(16, torch.bfloat16)))
        '0x7f'
        """
        mask = (1 << kind.bits) - 1
        if self.target_bits is not None:
            mask &= kind.mask(self.target_bits, strict)
        if self.protect_bits is not None:
            mask &= ~kind.mask(self.protect_bits, strict)
        return mask

    def check_globs(self, names: Sequence[str]) -> None:
        """Every glob must match a tensor: a glob that matches none is most likely a typo."""
        for what, globs in (("protected", self.protect_tensors), ("targeted", self.target_tensors)):
            for g in globs:
                if not any(fnmatch.fnmatchcase(n, g) for n in names):
                    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                    raise BitrobustError(f"the {what} tensor glob {g!r} matches no stored tensor; tensors: {shown}")


@dataclass(frozen=True)
class _Run:
    """``count`` consecutive words of a segment, from word ``first`` of it, read with ``mask`` allowed."""

    first: int
    count: int
    mask: int


class ProtectedMemory:
    """A quantized state in memory behind a :class:`Protection`: ``read(errors)`` gives the state as read
    and the ECC counts (None without ECC). Everything that does not depend on the errors -- masks, the clean
    check bits -- is worked out once here, and every setting is checked against the state (tensor globs, the
    fields its words have) before any read.

    >>> from bitrobust.quantization import FixedPointQuantizer, quantize_tensors
    >>> from bitrobust.bit_errors import RandomBitErrors
    >>> state = quantize_tensors({"w": torch.linspace(-1, 1, 256)}, FixedPointQuantizer(8))
    >>> memory = ProtectedMemory(state, Protection(protect_bits="7,6,5,4,3,2,1"))
    >>> read, ecc = memory.read(RandomBitErrors(0.5, chip=0))
    >>> bool(((read.flat_codes() ^ state.flat_codes()) & 0xFE).eq(0).all()), ecc
    (True, None)
    >>> memory = ProtectedMemory(state, Protection(ecc="secded64"))
    >>> [(s.region, s.bit_offset, s.bits, s.num_words) for s in memory.segments]
    [('data', 0, 8, 256), ('ecc', 2048, 8, 32)]
    """

    def __init__(self, state: QuantizedState, protection: Protection | None = None) -> None:
        self.state = state
        self.protection = protection = protection or Protection()
        protection.check_globs(list(state.tensors))
        self._plan: list[tuple[Segment, int, tuple[_Run, ...]]] = []  # (segment, its first word in its region, runs)
        region_pos = {"data": 0, "metadata": 0}
        for seg in state.segments:
            runs: list[_Run] = []
            pos = 0
            for name in seg.names:
                qt = state.tensors[name]
                if seg.region == "data":
                    n, mask = qt.codes.numel(), self._mask(name, data_kind(name, qt), True)
                else:
                    n = qt.metadata.numel()
                    mask = self._mask(name, METADATA_KIND, False) if protection.expose_metadata else 0
                if mask and runs and runs[-1].mask == mask and runs[-1].first + runs[-1].count == pos:
                    runs[-1] = _Run(runs[-1].first, runs[-1].count + n, mask)
                elif mask:
                    runs.append(_Run(pos, n, mask))
                pos += n
            self._plan.append((seg, region_pos[seg.region], tuple(runs)))
            region_pos[seg.region] += seg.num_words
        self.ecc_segment: Segment | None = None
        code = protection.code
        if code is not None:
            widths = {s.bits for s in state.segments if s.region == "data"}
            if len(widths) > 1:
                raise BitrobustError(f"ECC over the data region needs data words of one width, got {sorted(widths)}")
            m = widths.pop() if widths else state.bits
            data = state.flat_codes()
            self._checks = bits_to_words(code.encode_words(data, m), code.check_bits)
            start = state.segments[-1].stop if state.segments else 0
            self.ecc_segment = Segment("ecc", (), code.check_bits, self._checks.numel(), start)
            self._data_bits = m

    def _mask(self, name: str, kind: WordKind, strict: bool) -> int:
        allowed = self.protection.allowed(kind, strict)  # checks the bit settings against every tensor's words
        return allowed if self.protection.tensor_exposed(name) else 0

    @property
    def reliable_bits(self) -> int:
        """Stored bits of the data and metadata regions that always read error-free: protected bits and tensors,
        bits outside a target, and metadata unless exposed (ECC check bits are not counted: they flip).

        >>> from bitrobust.quantization import FixedPointQuantizer, quantize_tensors
        >>> state = quantize_tensors({"a": torch.ones(10), "b": torch.ones(6)}, FixedPointQuantizer(8))
        >>> ProtectedMemory(state, Protection(protect_bits="msb")).reliable_bits  # 16 words x 1 bit
        16
        >>> ProtectedMemory(state, Protection(protect_tensors="b")).reliable_bits  # 6 words x 8 bits
        48
        """
        exposed = sum(run.count * bin(run.mask).count("1") for _, _, runs in self._plan for run in runs)
        return sum(seg.num_words * seg.bits for seg in self.state.segments) - exposed

    @property
    def segments(self) -> tuple[Segment, ...]:
        """Layout v2 with the ECC region: data, metadata, then (with ECC) the check bits."""
        return self.state.segments + ((self.ecc_segment,) if self.ecc_segment is not None else ())

    @property
    def check_words(self) -> torch.Tensor | None:
        """The ECC region's content for the clean data: codeword c's r + 1 check bits as one word (None without
        ECC). The data words the code covers are ``data_width``-bit words."""
        return None if self.ecc_segment is None else self._checks

    @property
    def data_width(self) -> int | None:
        """The width of the data words the ECC code runs over (None without ECC)."""
        return None if self.ecc_segment is None else self._data_bits

    def read(self, errors: ErrorModel) -> tuple[QuantizedState, EccCounts | None]:
        """(The state as read through ``errors``, ECC counts of the decode or None without ECC)."""
        if self.protection.is_default:  # contract 2's read, untouched
            return self.state.with_errors(errors), None
        flat = {"data": self.state.flat_codes(), "metadata": self.state.flat_metadata()}  # fresh copies
        for seg, start, runs in self._plan:
            full = (1 << seg.bits) - 1
            for run in runs:
                words = flat[seg.region][start + run.first: start + run.first + run.count]
                part = Segment(seg.region, (), seg.bits, run.count, seg.bit_offset + run.first * seg.bits)
                read = read_segment(words, part, errors)
                if run.mask != full:
                    read = words ^ ((read ^ words) & run.mask)
                words.copy_(read)
        counts = None
        code = self.protection.code
        if code is not None and self.ecc_segment is not None:
            checks = self._checks if self.protection.targeted else read_segment(self._checks, self.ecc_segment, errors)
            flat["data"], counts = code.decode_words(flat["data"], self._data_bits,
                                                      words_to_bits(checks, code.check_bits), self.protection.ecc_policy)
        metadata = flat["metadata"] if self.protection.expose_metadata else None
        return self.state.with_flat_codes(flat["data"], metadata), counts


def read_protected(state: QuantizedState, errors: ErrorModel,
                   protection: Protection | None = None) -> tuple[QuantizedState, EccCounts | None]:
    """``ProtectedMemory(state, protection).read(errors)`` for a single read.

    >>> from bitrobust.quantization import FixedPointQuantizer, quantize_tensors
    >>> from bitrobust.bit_errors import RandomBitErrors
    >>> state = quantize_tensors({"a": torch.ones(64), "b": torch.ones(64)}, FixedPointQuantizer(8))
    >>> read, _ = read_protected(state, RandomBitErrors(0.2, chip=1), Protection(target_tensors="b"))
    >>> read.tensors["a"].codes.equal(state.tensors["a"].codes), read.tensors["b"].codes.equal(state.tensors["b"].codes)
    (True, False)
    """
    return ProtectedMemory(state, protection).read(errors)


def protection_from(values: dict[str, Any] | None) -> Protection:
    """A :class:`Protection` from a mapping of its fields (None values and unknown keys ignored).

    >>> protection_from({"ecc": "secded8", "rates": [0.01]}).ecc
    'secded8'
    """
    return Protection(**{k: v for k, v in (values or {}).items() if k in PROTECTION_FIELDS and v is not None})
