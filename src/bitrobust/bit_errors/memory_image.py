"""Memory images: the exact bytes a quantized model occupies in memory (paper 3, Sec. 3, App. C.1; DESIGN
contracts 2 and 5).

Memory layout v2 (:mod:`bitrobust.quantization.layout`) gives every stored word a first bit address: the
data region (every tensor's words) and then the metadata region (per-channel/group ranges as fp16 words);
for one per-tensor format of m bits this is contract 2's a = i m + j. The image stores bit a in byte a // 8
at bit position a % 8 (LSB first), padded with zero bits up to a whole byte, so flipping bit a of the image
is exactly flipping bit address a of the model (what every error model of this package does). A JSON
manifest beside it lets the image be read back into a :class:`~bitrobust.quantization.QuantizedState`, e.g.
after it went through a real low-voltage memory:

- version 1 (contract 1's fixed point per tensor, one scheme and width: the images and manifests of paper 3's
  models, unchanged): bits, scheme, and per tensor name, shape, dtype, word offset, word count and range;
- version 2 (any other number format of contract 5, or a mix): the regions' boundaries, and per tensor its
  format (registered name and the encoding that decodes it), word width, data bit offset, and its metadata
  words' shape and bit offset. Per-tensor ranges stay in the manifest (reliable registers, contract 5).

A state exported through a :class:`~bitrobust.bit_errors.protection.ProtectedMemory` with SECDED ECC
(contract 6) also holds the ECC region, right after the metadata region: codeword c's r + 1 check bits (of the
clean data) from bit (end of metadata) + c (r + 1). Its manifest is version 2 with a third region ``ecc`` and an
``ecc`` entry (code, k, n, check bits, codewords, the data word width the code runs over, policy); importing
it decodes the data region with those check bits, as every read of that memory does
(:func:`read_memory_image` also returns the counts).

Files: ``<prefix>.bin`` (the image) and ``<prefix>.json`` (the manifest), both written
atomically (:func:`bitrobust.io.atomic_path`); a failed export leaves neither behind.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from bitrobust.bit_errors.bitstream import (
    bits_to_words,
    bytes_to_words,
    pack_stream,
    unpack_stream,
    word_dtype,
    words_to_bits,
    words_to_bytes,
)
from bitrobust.bit_errors.ecc import POLICIES, EccCounts, secded_code
from bitrobust.bit_errors.protection import ProtectedMemory
from bitrobust.errors import BitrobustError
from bitrobust.formats import FORMATS, FloatTensor, GroupedFixedPoint, GroupedTensor, get_format
from bitrobust.io import atomic_path
from bitrobust.quantization.fixed_point import METADATA_BITS, FixedPointQuantizer, QuantizedTensor, QuantScheme, check_bits
from bitrobust.quantization.model import QuantizedState

FORMAT = "bitrobust-memory-image"
VERSION = 1  # contract 1 per tensor
VERSION_V2 = 2  # memory layout v2: any number format
VERSIONS = (VERSION, VERSION_V2)
LAYOUT = "bit address a = word * bits + bit (bit 0 = LSB) -> byte a // 8, bit a % 8 (LSB first); zero padding"
LAYOUT_V2 = ("layout v2: data region, then metadata region; a word's first bit address = sum of the widths of "
             "all words before it, bit j at address + j -> byte a // 8, bit a % 8 (LSB first); zero padding")
LAYOUT_V2_ECC = ("layout v2: data region, then metadata region, then ECC region (check bits of codeword c at "
                 "(end of metadata) + c (r + 1)); a word's first bit address = sum of the widths of all words before "
                 "it, bit j at address + j -> byte a // 8, bit a % 8 (LSB first); zero padding")
DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
#: the float word types of contract 5 by name (``str(dtype)`` without ``torch.``)
FLOAT_WORDS: dict[str, torch.dtype] = {str(d).removeprefix("torch."): d for d in (
    torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2)}
_SCHEME_FIELDS = {f.name: f.type for f in dataclasses.fields(QuantScheme)}
_TENSOR_KEYS = ("name", "shape", "dtype", "word_offset", "num_words", "q_min", "q_max")
_TENSOR_KEYS_V2 = ("name", "shape", "dtype", "format", "encoding", "bits", "num_words", "bit_offset",
                   "metadata_shape", "metadata_bit_offset")
_HEAD_KEYS_V2 = ("format", "version", "layout", "bits", "metadata_bits", "regions", "num_bits", "num_bytes")
_ECC_KEYS = ("code", "k", "n", "check_bits", "codewords", "data_bits", "policy")
Source = QuantizedState | ProtectedMemory
"""What an image is made from: a quantized state, or a state behind a protection (its ECC region included)."""


def num_image_bytes(num_words: int, bits: int) -> int:
    """ceil(num_words * bits / 8): the image size in bytes.

    >>> num_image_bytes(3, 4)
    2
    """
    return (num_words * bits + 7) // 8


def pack_bits(flat_codes: torch.Tensor, bits: int) -> torch.Tensor:
    """The byte image (uint8 tensor of ceil(n m / 8) bytes) of n m-bit words (m in 1..8, contract 1).

    byte[a // 8] bit (a % 8) = bit j of word i, with a = i m + j; the last byte is
    padded with zero bits (:func:`bitrobust.bit_errors.bitstream.words_to_bytes`).

    >>> pack_bits(torch.tensor([1, 2, 3]), bits=4).tolist()  # 0x21, then 3 and 4 zero bits
    [33, 3]
    """
    check_bits(bits)
    flat = flat_codes.reshape(-1)
    image = words_to_bytes(flat, bits)
    return image.clone() if image.data_ptr() == flat.data_ptr() and image.numel() else image  # never a view of the codes


def unpack_bits(data: torch.Tensor | bytes | bytearray, bits: int, num_words: int) -> torch.Tensor:
    """The ``num_words`` m-bit words (uint8) of a byte image; the inverse of :func:`pack_bits`.

    ``data`` must hold exactly ceil(num_words * bits / 8) bytes; padding bits are ignored.

    >>> unpack_bits(bytes([33, 3]), bits=4, num_words=3).tolist()
    [1, 2, 3]
    """
    check_bits(bits)
    if isinstance(num_words, bool) or not isinstance(num_words, int) or num_words < 0:
        raise BitrobustError(f"num_words must be a non-negative integer, got {num_words!r}")
    buf = _byte_tensor(data)
    expected = num_image_bytes(num_words, bits)
    if buf.numel() != expected:
        raise BitrobustError(f"image of {num_words} {bits}-bit words needs {expected} bytes, got {buf.numel()}")
    return bytes_to_words(buf, bits, num_words, torch.uint8)


def _byte_tensor(data: torch.Tensor | bytes | bytearray | memoryview) -> torch.Tensor:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return torch.frombuffer(bytearray(data), dtype=torch.uint8) if len(data) else torch.zeros(0, dtype=torch.uint8)
    if data.dtype != torch.uint8:
        raise BitrobustError(f"a byte image must be a uint8 tensor, got {data.dtype}")
    return data.reshape(-1)


def read_words(image: torch.Tensor, bit_offset: int, bits: int, count: int,
               dtype: torch.dtype | None = None) -> torch.Tensor:
    """The ``count`` words of ``bits`` bits stored from bit address ``bit_offset`` of a byte image
    (dtype as :func:`~bitrobust.bit_errors.bitstream.bits_to_words`).

    >>> read_words(torch.tensor([0b0111_0000, 0b1], dtype=torch.uint8), 4, 3, 2).tolist()  # bits 4..9
    [7, 2]
    """
    if count == 0:
        return torch.zeros(0, dtype=word_dtype(bits) if dtype is None else dtype)
    start, shift = divmod(bit_offset, 8)
    chunk = image[start : start + (shift + count * bits + 7) // 8]
    if shift == 0:
        return bytes_to_words(chunk, bits, count, dtype)
    return bits_to_words(unpack_stream(chunk, shift + count * bits)[shift:], bits, dtype)


def _parts(source: Source) -> tuple[QuantizedState, tuple, dict[str, torch.Tensor]]:
    """(state, segments of layout v2, flat words per region) of a state or a protected memory (with ECC: the
    ECC region and its check words too)."""
    if isinstance(source, ProtectedMemory):
        state = source.state
        checks = source.check_words
        extra = {} if checks is None else {"ecc": checks.cpu()}
        return state, source.segments, {"data": state.flat_codes().cpu(), "metadata": state.flat_metadata().cpu(),
                                        **extra}
    return source, source.segments, {"data": source.flat_codes().cpu(), "metadata": source.flat_metadata().cpu()}


def image_bytes(source: Source) -> torch.Tensor:
    """The byte image (uint8, on the CPU) of a state in memory layout v2: every segment's words
    (data region, then metadata region, then a protected memory's ECC region) at their bit addresses, bit a in
    byte a // 8 at bit a % 8.

    For one per-tensor format of m bits this is :func:`pack_bits` of the flat codes (contract 2).

    >>> from bitrobust.formats import get_format
    >>> from bitrobust.quantization import quantize_tensors
    >>> state = quantize_tensors({"w": torch.tensor([[0.0, 1.0]])}, get_format("int4_channel"))
    >>> image_bytes(state).tolist()  # words 0 and 14, then the step 1/14 (fp16 0x2C92) and the minimum 0
    [224, 146, 44, 0, 0]
    """
    _, segments, flat = _parts(source)
    pos = dict.fromkeys(flat, 0)
    parts = []
    for seg in segments:
        if seg.region not in flat:  # only the regions a memory image holds (see the module docstring)
            continue
        parts.append((seg, flat[seg.region][pos[seg.region] : pos[seg.region] + seg.num_words]))
        pos[seg.region] += seg.num_words
    if not parts:
        return torch.zeros(0, dtype=torch.uint8)
    if all(seg.bit_offset % 8 == 0 for seg, _ in parts):  # whole bytes per segment: no bit unpacking
        return torch.cat([words_to_bytes(words, seg.bits) for seg, words in parts])
    return pack_stream(torch.cat([words_to_bits(words, seg.bits) for seg, words in parts]))


# ----------------------------------------------------------------------------- manifest


def _dtype_name(dtype: torch.dtype) -> str:
    for name, d in DTYPES.items():
        if d == dtype:
            return name
    raise BitrobustError(f"cannot export tensors of dtype {dtype}; valid: {', '.join(DTYPES)}")


def _is_contract1(state: QuantizedState) -> bool:
    """One per-tensor fixed-point scheme and width for every tensor: a version-1 image (as paper 3's)."""
    tensors = list(state.tensors.values())
    return (all(isinstance(qt, QuantizedTensor) and qt.bits == state.bits for qt in tensors)
            and len({qt.scheme for qt in tensors}) <= 1)


def build_manifest(source: Source, image: torch.Tensor | None = None) -> dict[str, Any]:
    """The JSON manifest of a state or protected memory (``image``: its bytes, for the checksum): version 1 for
    contract 1's per-tensor fixed point without ECC, else version 2 (see the module docstring).

    >>> from bitrobust.quantization import FixedPointQuantizer, quantize_model
    >>> manifest = build_manifest(quantize_model(torch.nn.Linear(3, 2), FixedPointQuantizer(4)))
    >>> manifest["num_words"], manifest["num_bytes"], [(t["name"], t["word_offset"]) for t in manifest["tensors"]]
    (8, 4, [('weight', 0), ('bias', 6)])
    >>> validate_manifest(manifest)  # no error: consistent
    >>> from bitrobust.formats import get_format
    >>> v2 = build_manifest(quantize_model(torch.nn.Linear(3, 2), get_format("bf16")))
    >>> v2["version"], v2["regions"], [(t["format"], t["bit_offset"]) for t in v2["tensors"]]
    (2, [{'name': 'data', 'bit_offset': 0, 'num_bits': 128}, {'name': 'metadata', 'bit_offset': 128, 'num_bits': 0}], [('bf16', 0), ('bf16', 96)])
    """
    memory = source if isinstance(source, ProtectedMemory) and source.check_words is not None else None
    state = source.state if isinstance(source, ProtectedMemory) else source
    manifest = _manifest_v1(state) if memory is None and _is_contract1(state) else _manifest_v2(state, memory)
    if image is not None:
        manifest["sha256"] = hashlib.sha256(image.cpu().numpy().tobytes()).hexdigest()
    manifest["tensors"] = manifest.pop("tensors")  # last, after the checksum
    return manifest


def _manifest_v1(state: QuantizedState) -> dict[str, Any]:
    bits = check_bits(state.bits)
    schemes = {qt.scheme for qt in state.tensors.values()}
    scheme = schemes.pop() if schemes else QuantScheme()
    tensors, pos = [], 0
    for name, qt in state.tensors.items():
        n = qt.codes.numel()
        tensors.append({"name": name, "shape": [int(s) for s in qt.codes.shape], "dtype": _dtype_name(qt.dtype),
                        "word_offset": pos, "num_words": n, "q_min": float(qt.qrange[0]), "q_max": float(qt.qrange[1])})
        pos += n
    return {"format": FORMAT, "version": VERSION, "layout": LAYOUT, "bits": bits, "scheme": dataclasses.asdict(scheme),
            "num_words": pos, "num_bytes": num_image_bytes(pos, bits), "tensors": tensors}


def _encoding(name: str, qt: Any) -> dict[str, Any]:
    """How a tensor's words decode: per-tensor fixed point (with its range), per channel/group, or float words."""
    if isinstance(qt, QuantizedTensor):
        return {"kind": "fixed_tensor", "scheme": dataclasses.asdict(qt.scheme),
                "range": [float(qt.qrange[0]), float(qt.qrange[1])]}
    if isinstance(qt, GroupedTensor):
        return {"kind": "fixed_group", "scheme": dataclasses.asdict(qt.scheme), "group": qt.group}
    if isinstance(qt, FloatTensor):
        return {"kind": "float", "word": str(qt.float_dtype).removeprefix("torch.")}
    raise BitrobustError(f"cannot export tensor {name!r}: {type(qt).__name__} is not a number format of "
                         "bitrobust.formats")


ENCODINGS = ("fixed_tensor", "fixed_group", "float")


def _signature(quantizer: Any) -> tuple:
    """What identifies a format's words: kind, width and scheme, group or float type."""
    if isinstance(quantizer, FixedPointQuantizer):
        return ("fixed_tensor", quantizer.bits, quantizer.scheme)
    if isinstance(quantizer, GroupedFixedPoint):
        return ("fixed_group", quantizer.bits, quantizer.scheme, quantizer.group)
    return ("float", quantizer.float_dtype)


def _encoding_signature(encoding: dict[str, Any], bits: int) -> tuple:
    kind = encoding["kind"]
    if kind == "float":
        return ("float", FLOAT_WORDS[encoding["word"]])
    scheme = QuantScheme(**encoding["scheme"])
    return ("fixed_tensor", bits, scheme) if kind == "fixed_tensor" else ("fixed_group", bits, scheme, encoding["group"])


@functools.lru_cache(maxsize=1)
def _registered() -> dict[tuple, str]:
    out: dict[tuple, str] = {}
    for name in FORMATS.names():
        out.setdefault(_signature(get_format(name)), name)
    return out


def format_of(encoding: dict[str, Any], bits: int) -> str | None:
    """The registered format name (:data:`bitrobust.formats.FORMATS`) of an encoding, None if unregistered.

    >>> format_of({"kind": "float", "word": "float8_e4m3fn"}, 8)
    'fp8_e4m3'
    """
    return _registered().get(_encoding_signature(encoding, bits))


def _metadata_shape(encoding: dict[str, Any], shape: list[int]) -> list[int]:
    """[1 or 2, rows, groups] of a per-channel/group tensor (steps, then minima if asymmetric), else [0]."""
    if encoding["kind"] != "fixed_group":
        return [0]
    rows = shape[0] if shape else 1
    cols = math.prod(shape[1:]) if shape else 1
    group = encoding["group"]
    groups = -(-cols // (max(cols, 1) if group is None else group))
    return [1 if encoding["scheme"]["symmetric"] else 2, rows, groups]


def _manifest_v2(state: QuantizedState, memory: ProtectedMemory | None = None) -> dict[str, Any]:
    encodings = {name: _encoding(name, qt) for name, qt in state.tensors.items()}
    data_bits = sum(qt.codes.numel() * qt.bits for qt in state.tensors.values())
    meta_bits = sum(qt.metadata.numel() * METADATA_BITS for qt in state.tensors.values())
    tensors, data_pos, meta_pos = [], 0, data_bits
    for name, qt in state.tensors.items():
        tensors.append({"name": name, "shape": [int(s) for s in qt.codes.shape], "dtype": _dtype_name(qt.dtype),
                        "format": format_of(encodings[name], qt.bits), "encoding": encodings[name], "bits": qt.bits,
                        "num_words": qt.codes.numel(), "bit_offset": data_pos,
                        "metadata_shape": [int(s) for s in qt.metadata.shape]
                        if encodings[name]["kind"] == "fixed_group" else [0],
                        "metadata_bit_offset": meta_pos})
        data_pos += qt.codes.numel() * qt.bits
        meta_pos += qt.metadata.numel() * METADATA_BITS
    regions = [{"name": "data", "bit_offset": 0, "num_bits": data_bits},
               {"name": "metadata", "bit_offset": data_bits, "num_bits": meta_bits}]
    ecc: dict[str, Any] = {}
    if memory is not None:
        code, seg = memory.protection.code, memory.ecc_segment
        regions.append({"name": "ecc", "bit_offset": seg.bit_offset, "num_bits": seg.num_words * seg.bits})
        ecc = {"ecc": {"code": code.name, "k": code.k, "n": code.n, "check_bits": code.check_bits,
                       "codewords": seg.num_words, "data_bits": memory.data_width,
                       "policy": memory.protection.ecc_policy}}
    total = sum(r["num_bits"] for r in regions)
    return {"format": FORMAT, "version": VERSION_V2, "layout": LAYOUT_V2_ECC if ecc else LAYOUT_V2, "bits": state.bits,
            "metadata_bits": METADATA_BITS, "regions": regions, **ecc, "num_bits": total,
            "num_bytes": (total + 7) // 8, "tensors": tensors}


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_scheme(scheme: Any, bad) -> None:
    if not isinstance(scheme, dict):
        raise bad("scheme must be an object")
    if set(scheme) != set(_SCHEME_FIELDS):
        raise bad(f"scheme fields must be {sorted(_SCHEME_FIELDS)}, got {sorted(scheme)}")
    for key in ("symmetric", "signed"):
        if not isinstance(scheme[key], bool):
            raise bad(f"scheme.{key} must be true or false, got {scheme[key]!r}")
    for key in ("range", "rounding"):
        if not isinstance(scheme[key], str):
            raise bad(f"scheme.{key} must be a string, got {scheme[key]!r}")
    try:
        QuantScheme(**scheme)
    except BitrobustError as exc:
        raise bad(str(exc)) from None


def validate_manifest(manifest: Any, where: str = "manifest") -> None:
    """Check a manifest's structure and consistency; raises BitrobustError with the first problem."""

    def bad(msg: str) -> BitrobustError:
        return BitrobustError(f"{where}: {msg}")

    if not isinstance(manifest, dict):
        raise bad("not a JSON object")
    if manifest.get("format") != FORMAT:
        raise bad(f"not a bitrobust memory image manifest (format {manifest.get('format')!r})")
    if manifest.get("version") not in VERSIONS or isinstance(manifest.get("version"), bool):
        raise bad(f"unsupported version {manifest.get('version')!r}; this bitrobust reads versions "
                  f"{', '.join(map(str, VERSIONS))}")
    sha = manifest.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
        raise bad("sha256 must be a 64-character hex string")
    if not isinstance(manifest.get("tensors"), list):
        raise bad("tensors must be a list")
    (_validate_v1 if manifest["version"] == VERSION else _validate_v2)(manifest, bad)


def _validate_v1(manifest: dict, bad) -> None:
    bits = manifest.get("bits")
    if not _is_int(bits) or not 1 <= bits <= 8:
        raise bad(f"bits must be an integer in 1..8, got {bits!r}")
    _check_scheme(manifest.get("scheme"), bad)
    num_words = manifest.get("num_words")
    if not _is_int(num_words) or num_words < 0:
        raise bad(f"num_words must be a non-negative integer, got {num_words!r}")
    if manifest.get("num_bytes") != num_image_bytes(num_words, bits):
        raise bad(f"num_bytes {manifest.get('num_bytes')!r} does not match {num_words} words of {bits} bits")
    pos, names = 0, set()
    for k, t in enumerate(manifest["tensors"]):
        if not isinstance(t, dict) or set(t) != set(_TENSOR_KEYS):
            raise bad(f"tensor #{k} must have exactly the fields {list(_TENSOR_KEYS)}")
        name = _check_name_shape_dtype(t, k, names, bad)
        if not _is_int(t["word_offset"]) or t["word_offset"] != pos:
            raise bad(f"tensor {name!r}: word_offset {t['word_offset']!r} should be {pos} (tensors are laid out back to back)")
        if not _is_int(t["num_words"]) or t["num_words"] != math.prod(t["shape"]):
            raise bad(f"tensor {name!r}: num_words {t['num_words']!r} does not match shape {t['shape']}")
        if not (_is_number(t["q_min"]) and _is_number(t["q_max"])) or t["q_min"] > t["q_max"]:
            raise bad(f"tensor {name!r}: q_min, q_max must be finite numbers with q_min <= q_max")
        pos += t["num_words"]
    if pos != num_words:
        raise bad(f"tensors hold {pos} words but num_words is {num_words}")


def _check_name_shape_dtype(t: dict, k: int, names: set, bad) -> str:
    name = t["name"]
    if not isinstance(name, str) or name in names:
        raise bad(f"tensor #{k}: name must be a unique string, got {name!r}")
    names.add(name)
    shape = t["shape"]
    if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
        raise bad(f"tensor {name!r}: shape must be a list of non-negative integers, got {shape!r}")
    if t["dtype"] not in DTYPES:
        raise bad(f"tensor {name!r}: unknown dtype {t['dtype']!r}; valid: {', '.join(DTYPES)}")
    return name


def _check_encoding(t: dict, name: str, bad) -> None:
    """The encoding's fields and the word width it allows."""
    enc, bits = t["encoding"], t["bits"]
    kind = enc.get("kind") if isinstance(enc, dict) else None
    keys = {"fixed_tensor": {"kind", "scheme", "range"}, "fixed_group": {"kind", "scheme", "group"},
            "float": {"kind", "word"}}
    if kind not in keys or set(enc) != keys[kind]:
        raise bad(f"tensor {name!r}: encoding must be one of {', '.join(ENCODINGS)} with the fields "
                  f"{', '.join(sorted(keys.get(kind, keys['float'])))}")
    if kind == "float":
        if enc["word"] not in FLOAT_WORDS:
            raise bad(f"tensor {name!r}: unknown float word {enc['word']!r}; valid: {', '.join(FLOAT_WORDS)}")
        width = torch.finfo(FLOAT_WORDS[enc["word"]]).bits
        if bits != width:
            raise bad(f"tensor {name!r}: {enc['word']} words have {width} bits, not {bits!r}")
        return
    _check_scheme(enc["scheme"], lambda msg: bad(f"tensor {name!r}: {msg}"))
    low = 1 if kind == "fixed_tensor" else 2
    if not _is_int(bits) or not low <= bits <= 8:
        raise bad(f"tensor {name!r}: bits must be an integer in {low}..8, got {bits!r}")
    if kind == "fixed_tensor":
        lo_hi = enc["range"]
        if not (isinstance(lo_hi, list) and len(lo_hi) == 2 and all(map(_is_number, lo_hi)) and lo_hi[0] <= lo_hi[1]):
            raise bad(f"tensor {name!r}: range must be two finite numbers [q_min, q_max] with q_min <= q_max")
    elif enc["group"] is not None and not (_is_int(enc["group"]) and enc["group"] >= 1):
        raise bad(f"tensor {name!r}: group must be a positive integer or null (per output channel), got {enc['group']!r}")


def _validate_v2(manifest: dict, bad) -> None:
    extra = set(manifest) - set(_HEAD_KEYS_V2) - {"sha256", "tensors", "ecc"}
    missing = set(_HEAD_KEYS_V2) - set(manifest)
    if extra or missing:
        raise bad(f"version 2 manifests have exactly the fields {list(_HEAD_KEYS_V2)}, tensors, sha256 and (with "
                  f"ECC) ecc (missing {sorted(missing)}, unknown {sorted(extra)})")
    bits = manifest["bits"]
    if not _is_int(bits) or not 1 <= bits <= 64:
        raise bad(f"bits must be an integer in 1..64, got {bits!r}")
    if manifest["metadata_bits"] != METADATA_BITS:
        raise bad(f"metadata_bits must be {METADATA_BITS}, got {manifest['metadata_bits']!r}")
    regions = manifest["regions"]
    names = ["data", "metadata"] + (["ecc"] if "ecc" in manifest else [])
    if not (isinstance(regions, list) and all(isinstance(r, dict) for r in regions)
            and [r.get("name") for r in regions] == names
            and all(set(r) == {"name", "bit_offset", "num_bits"} and _is_int(r["bit_offset"]) and _is_int(r["num_bits"])
                    and r["num_bits"] >= 0 for r in regions)):
        raise bad(f"regions must be [{', '.join(names)}], each {{name, bit_offset, num_bits}} with integer bits")
    data_bits, meta_bits = regions[0]["num_bits"], regions[1]["num_bits"]
    if any(r["bit_offset"] != sum(q["num_bits"] for q in regions[:i]) for i, r in enumerate(regions)):
        raise bad("regions must follow each other: data from bit 0, metadata from the end of the data"
                  + (", ECC from the end of the metadata" if "ecc" in manifest else ""))
    total = sum(r["num_bits"] for r in regions)
    if manifest["num_bits"] != total or manifest["num_bytes"] != (total + 7) // 8:
        raise bad(f"num_bits/num_bytes {manifest['num_bits']!r}/{manifest['num_bytes']!r} do not match the regions "
                  f"({' + '.join(str(r['num_bits']) for r in regions)} bits)")
    if "ecc" in manifest:
        _check_ecc(manifest["ecc"], data_bits, regions[2]["num_bits"], manifest["tensors"], bad)
    data_pos, meta_pos, names = 0, data_bits, set()
    for k, t in enumerate(manifest["tensors"]):
        if not isinstance(t, dict) or set(t) != set(_TENSOR_KEYS_V2):
            raise bad(f"tensor #{k} must have exactly the fields {list(_TENSOR_KEYS_V2)}")
        name = _check_name_shape_dtype(t, k, names, bad)
        _check_encoding(t, name, bad)
        if t["format"] is not None and t["format"] != format_of(t["encoding"], t["bits"]):
            raise bad(f"tensor {name!r}: format {t['format']!r} does not match its encoding "
                      f"({format_of(t['encoding'], t['bits']) or 'an unregistered format'})")
        if not _is_int(t["num_words"]) or t["num_words"] != math.prod(t["shape"]):
            raise bad(f"tensor {name!r}: num_words {t['num_words']!r} does not match shape {t['shape']}")
        if not _is_int(t["bit_offset"]) or t["bit_offset"] != data_pos:
            raise bad(f"tensor {name!r}: bit_offset {t['bit_offset']!r} should be {data_pos} (the sum of the widths "
                      "of all data words before it)")
        want = _metadata_shape(t["encoding"], t["shape"])
        if t["metadata_shape"] != want:
            raise bad(f"tensor {name!r}: metadata_shape {t['metadata_shape']!r} should be {want}")
        if not _is_int(t["metadata_bit_offset"]) or t["metadata_bit_offset"] != meta_pos:
            raise bad(f"tensor {name!r}: metadata_bit_offset {t['metadata_bit_offset']!r} should be {meta_pos}")
        data_pos += t["num_words"] * t["bits"]
        meta_pos += math.prod(want) * METADATA_BITS
    if (data_pos, meta_pos) != (data_bits, data_bits + meta_bits):
        raise bad(f"tensors hold {data_pos} data and {meta_pos - data_bits} metadata bits but the regions say "
                  f"{data_bits} and {meta_bits}")


def _check_ecc(ecc: Any, data_bits: int, ecc_bits: int, tensors: Any, bad) -> None:
    """The ``ecc`` entry: a known code, its sizes, the policy, and codewords covering the data region."""
    if not isinstance(ecc, dict) or set(ecc) != set(_ECC_KEYS):
        raise bad(f"ecc must have exactly the fields {list(_ECC_KEYS)}")
    try:
        code = secded_code(ecc["code"])
    except BitrobustError as exc:
        raise bad(str(exc)) from None
    if (ecc["k"], ecc["n"], ecc["check_bits"]) != (code.k, code.n, code.check_bits):
        raise bad(f"ecc: {code.name} has k = {code.k}, n = {code.n} and {code.check_bits} check bits")
    if ecc["policy"] not in POLICIES:
        raise bad(f"ecc: unknown policy {ecc['policy']!r}; valid: {', '.join(POLICIES)}")
    widths = {t.get("bits") for t in tensors if isinstance(t, dict)} if isinstance(tensors, list) else set()
    if not _is_int(ecc["data_bits"]) or widths - {ecc["data_bits"]}:
        raise bad(f"ecc: data_bits {ecc['data_bits']!r} must be the width of every tensor's data words")
    codewords = -(-data_bits // code.k)
    if ecc["codewords"] != codewords or ecc_bits != codewords * code.check_bits:
        raise bad(f"ecc: {data_bits} data bits make {codewords} codewords of {code.check_bits} check bits, not "
                  f"{ecc['codewords']!r} in {ecc_bits} bits")


def _manifest_text(manifest: dict[str, Any]) -> str:
    """Indented JSON with one line per tensor (readable and diffable)."""
    head = {k: v for k, v in manifest.items() if k != "tensors"}
    lines = json.dumps(head, indent=2, allow_nan=False)[:-2]
    rows = ",\n".join("    " + json.dumps(t, allow_nan=False) for t in manifest["tensors"])
    return f'{lines},\n  "tensors": [\n{rows}\n  ]\n}}'


def _paths(path_prefix: str | os.PathLike) -> tuple[Path, Path]:
    prefix = os.fspath(path_prefix)
    return Path(prefix + ".bin"), Path(prefix + ".json")


def export_memory_image(state: Source, path_prefix: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<prefix>.bin`` (the image of ``state``: :func:`image_bytes`) and ``<prefix>.json`` (its
    manifest: :func:`build_manifest`). Every number format of :mod:`bitrobust.formats` exports; a
    :class:`~bitrobust.bit_errors.protection.ProtectedMemory` with ECC exports its ECC region too.

    Both are written with :func:`bitrobust.io.atomic_path` (a temporary file in the target
    folder, then ``os.replace``), the image moved into place first and the manifest last;
    on any failure the temporary files are removed, and so is the new image if its
    manifest could not be moved, so no image is left without its manifest. Returns
    (bin path, json path).

    >>> import tempfile
    >>> from bitrobust.quantization import FixedPointQuantizer, quantize_model
    >>> state = quantize_model(torch.nn.Linear(3, 2), FixedPointQuantizer(4))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     bin_path, json_path = export_memory_image(state, Path(d) / "linear")
    ...     back = import_memory_image(Path(d) / "linear")
    ...     bin_path.name, bin_path.stat().st_size, read_manifest(Path(d) / "linear")["bits"]
    ('linear.bin', 4, 4)
    >>> back.flat_codes().equal(state.flat_codes())
    True
    """
    bin_path, json_path = _paths(path_prefix)
    try:
        image = image_bytes(state)
        text = _manifest_text(build_manifest(state, image))
    except ValueError as exc:  # NaN / infinite range
        raise BitrobustError(f"cannot export memory image: {exc}") from None
    moved_bin = False
    try:
        with atomic_path(json_path) as tmp_json:
            tmp_json.write_bytes((text + "\n").encode("utf-8"))
            with atomic_path(bin_path) as tmp_bin:
                tmp_bin.write_bytes(image.numpy().tobytes())
            moved_bin = True
    except BaseException:
        if moved_bin:  # never leave a new image without its manifest
            bin_path.unlink(missing_ok=True)
        raise
    return bin_path, json_path


def read_manifest(path_prefix: str | os.PathLike) -> dict[str, Any]:
    """The validated manifest ``<prefix>.json``."""
    _, json_path = _paths(path_prefix)
    try:
        text = json_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BitrobustError(f"memory image manifest not found: {str(json_path)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BitrobustError(f"cannot read memory image manifest {str(json_path)!r}: {exc}") from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BitrobustError(f"{str(json_path)!r} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    validate_manifest(manifest, str(json_path))
    return manifest


def import_memory_image(path_prefix: str | os.PathLike, *, verify_checksum: bool = False) -> QuantizedState:
    """Read ``<prefix>.bin`` + ``<prefix>.json`` back into a QuantizedState (codes, ranges, dtypes); an image
    with an ECC region is decoded (:func:`read_memory_image`).

    The image size must match the manifest. The manifest's sha256 is that of the image
    as exported; it is only checked with ``verify_checksum=True``, because an image read
    back from a faulty memory is expected to differ.
    """
    return read_memory_image(path_prefix, verify_checksum=verify_checksum)[0]


def read_memory_image(path_prefix: str | os.PathLike, *,
                      verify_checksum: bool = False) -> tuple[QuantizedState, EccCounts | None]:
    """(The state of ``<prefix>.bin`` + ``<prefix>.json``, the ECC counts of its decode or None without an ECC
    region): the data region is decoded with the ECC region's check bits and the manifest's policy, exactly as
    :meth:`ProtectedMemory.read <bitrobust.bit_errors.protection.ProtectedMemory.read>` decodes a read.

    >>> import tempfile
    >>> from bitrobust.bit_errors.protection import Protection
    >>> from bitrobust.quantization import FixedPointQuantizer, quantize_tensors
    >>> state = quantize_tensors({"w": torch.linspace(-1, 1, 16)}, FixedPointQuantizer(8))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = export_memory_image(ProtectedMemory(state, Protection(ecc="secded64")), Path(d) / "w")
    ...     image = bytearray((Path(d) / "w.bin").read_bytes()); image[3] ^= 0x10  # flip bit address 28
    ...     _ = (Path(d) / "w.bin").write_bytes(image)
    ...     back, counts = read_memory_image(Path(d) / "w")
    ...     read_manifest(Path(d) / "w")["regions"][2]
    {'name': 'ecc', 'bit_offset': 128, 'num_bits': 16}
    >>> back.flat_codes().equal(state.flat_codes()), counts
    (True, EccCounts(codewords=2, corrected=1, detected=0))
    """
    bin_path, _ = _paths(path_prefix)
    manifest = read_manifest(path_prefix)
    try:
        size = bin_path.stat().st_size if bin_path.is_file() else None
        if size is None:
            raise BitrobustError(f"memory image not found: {str(bin_path)!r}")
        if size != manifest["num_bytes"]:  # checked before reading: a manifest cannot make us allocate more
            raise BitrobustError(
                f"memory image {str(bin_path)!r} has {size} bytes, the manifest says "
                f"{manifest['num_bytes']} (truncated or wrong file)"
            )
        data = bin_path.read_bytes()
    except OSError as exc:
        raise BitrobustError(f"cannot read memory image {str(bin_path)!r}: {exc}") from None
    if verify_checksum and "sha256" in manifest and hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise BitrobustError(f"memory image {str(bin_path)!r} does not match the manifest's sha256")
    image = _byte_tensor(data)
    decode = _decode_v1 if manifest["version"] == VERSION else _decode_v2
    state = QuantizedState(OrderedDict((t["name"], decode(t, image, manifest)) for t in manifest["tensors"]),
                           manifest["bits"])
    ecc = manifest.get("ecc")
    if ecc is None:
        return state, None
    code, region = secded_code(ecc["code"]), manifest["regions"][2]
    checks = read_words(image, region["bit_offset"], code.check_bits, ecc["codewords"])
    data, counts = code.decode_words(state.flat_codes(), ecc["data_bits"], words_to_bits(checks, code.check_bits),
                                     ecc["policy"])
    return state.with_flat_codes(data), counts


def _decode_v1(t: dict, image: torch.Tensor, manifest: dict) -> QuantizedTensor:
    bits = manifest["bits"]
    codes = read_words(image, t["word_offset"] * bits, bits, t["num_words"], torch.uint8).reshape(t["shape"])
    return QuantizedTensor(codes, bits, QuantScheme(**manifest["scheme"]), (float(t["q_min"]), float(t["q_max"])),
                           DTYPES[t["dtype"]])


def _decode_v2(t: dict, image: torch.Tensor, manifest: dict) -> Any:
    """The encoded tensor of a version-2 entry: its words (and metadata words) read at their bit addresses,
    in the dtypes its format's ``quantize`` gives (uint8 words of <= 8 bits, else int64 values)."""
    enc, bits, dtype = t["encoding"], t["bits"], DTYPES[t["dtype"]]
    codes = read_words(image, t["bit_offset"], bits, t["num_words"], torch.uint8 if bits <= 8 else torch.int64)
    codes = codes.reshape(t["shape"])
    if enc["kind"] == "float":
        return FloatTensor(codes, bits, FLOAT_WORDS[enc["word"]], dtype)
    scheme = QuantScheme(**enc["scheme"])
    if enc["kind"] == "fixed_tensor":
        return QuantizedTensor(codes, bits, scheme, (float(enc["range"][0]), float(enc["range"][1])), dtype)
    shape = t["metadata_shape"]
    words = read_words(image, t["metadata_bit_offset"], METADATA_BITS, math.prod(shape), torch.int64)
    return GroupedTensor(codes, words.reshape(shape), bits, scheme, enc["group"], dtype)


__all__ = [
    "FORMAT",
    "VERSION",
    "VERSION_V2",
    "build_manifest",
    "export_memory_image",
    "format_of",
    "image_bytes",
    "import_memory_image",
    "num_image_bytes",
    "pack_bits",
    "read_manifest",
    "read_memory_image",
    "read_words",
    "unpack_bits",
    "validate_manifest",
]
