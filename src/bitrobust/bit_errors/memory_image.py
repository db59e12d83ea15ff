"""Memory images: the exact bytes a quantized model occupies in the linear layout (paper 3, Sec. 3, App. C.1).

Contract 2 lays the model's m-bit words out linearly: bit j of word i has bit address
a = i m + j. The image stores bit a in byte a // 8 at bit position a % 8 (LSB first),
padded with zero bits up to a whole byte, so flipping bit a of the image is exactly
flipping bit address a of the model (what every error model of this package does).
A JSON manifest beside it (format version, bits, scheme, and per tensor name, shape,
dtype, word offset, word count and range q_min/q_max) lets the image be read back
into a :class:`~bitrobust.quantization.QuantizedState`, e.g. after it went through a
real low-voltage memory.

Files: ``<prefix>.bin`` (the image) and ``<prefix>.json`` (the manifest), both written
atomically (:func:`bitrobust.io.atomic_path`); a failed export leaves neither behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from bitrobust.errors import BitrobustError
from bitrobust.io import atomic_path
from bitrobust.quantization.fixed_point import QuantizedTensor, QuantScheme, check_bits
from bitrobust.quantization.model import QuantizedState

FORMAT = "bitrobust-memory-image"
VERSION = 1
LAYOUT = "bit address a = word * bits + bit (bit 0 = LSB) -> byte a // 8, bit a % 8 (LSB first); zero padding"
DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
_SCHEME_FIELDS = {f.name: f.type for f in dataclasses.fields(QuantScheme)}
_TENSOR_KEYS = ("name", "shape", "dtype", "word_offset", "num_words", "q_min", "q_max")


def num_image_bytes(num_words: int, bits: int) -> int:
    """ceil(num_words * bits / 8): the image size in bytes.

    >>> num_image_bytes(3, 4)
    2
    """
    return (num_words * bits + 7) // 8


def _check_codes(flat: torch.Tensor, bits: int) -> torch.Tensor:
    if flat.is_floating_point() or flat.is_complex() or flat.dtype == torch.bool:
        raise BitrobustError(f"codes must be an integer tensor of words, got {flat.dtype}")
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= 2**bits):
        lo, hi = int(flat.min()), int(flat.max())
        raise BitrobustError(f"codes must be {bits}-bit words in [0, {2**bits}), got values in [{lo}, {hi}]")
    return flat.to(torch.uint8)


def pack_bits(flat_codes: torch.Tensor, bits: int) -> torch.Tensor:
    """The byte image (uint8 tensor of ceil(n m / 8) bytes) of n m-bit words.

    byte[a // 8] bit (a % 8) = bit j of word i, with a = i m + j; the last byte is
    padded with zero bits.

    >>> pack_bits(torch.tensor([1, 2, 3]), bits=4).tolist()  # 0x21, then 3 and 4 zero bits
    [33, 3]
    """
    check_bits(bits)
    codes = _check_codes(flat_codes.reshape(-1), bits)
    if bits == 8:
        return codes.clone()
    n = codes.numel()
    nbytes = num_image_bytes(n, bits)
    shifts = torch.arange(bits, dtype=torch.uint8, device=codes.device)
    stream = ((codes[:, None] >> shifts) & 1).reshape(-1)  # bit a at index a
    padded = torch.zeros(nbytes * 8, dtype=torch.uint8, device=codes.device)
    padded[: stream.numel()] = stream
    padded = padded.view(nbytes, 8)
    out = torch.zeros(nbytes, dtype=torch.uint8, device=codes.device)
    for k in range(8):  # 8 bit planes, vectorized over all bytes
        out |= padded[:, k] << k
    return out


def unpack_bits(data: torch.Tensor | bytes | bytearray, bits: int, num_words: int) -> torch.Tensor:
    """The ``num_words`` m-bit words (uint8) of a byte image; the inverse of :func:`pack_bits`.

    ``data`` must hold exactly ceil(num_words * bits / 8) bytes; padding bits are ignored.

    >>> unpack_bits(bytes([33, 3]), bits=4, num_words=3).tolist()
    [1, 2, 3]
    """
    check_bits(bits)
    if isinstance(num_words, bool) or not isinstance(num_words, int) or num_words < 0:
        raise BitrobustError(f"num_words must be a non-negative integer, got {num_words!r}")
    if isinstance(data, (bytes, bytearray, memoryview)):
        buf = torch.frombuffer(bytearray(data), dtype=torch.uint8) if len(data) else torch.zeros(0, dtype=torch.uint8)
    else:
        if data.dtype != torch.uint8:
            raise BitrobustError(f"a byte image must be a uint8 tensor, got {data.dtype}")
        buf = data.reshape(-1)
    expected = num_image_bytes(num_words, bits)
    if buf.numel() != expected:
        raise BitrobustError(f"image of {num_words} {bits}-bit words needs {expected} bytes, got {buf.numel()}")
    if bits == 8:
        return buf.clone()
    shifts = torch.arange(8, dtype=torch.uint8, device=buf.device)
    stream = ((buf[:, None] >> shifts) & 1).reshape(-1)[: num_words * bits].view(num_words, bits)
    out = torch.zeros(num_words, dtype=torch.uint8, device=buf.device)
    for j in range(bits):
        out |= stream[:, j] << j
    return out


# ----------------------------------------------------------------------------- manifest


def _dtype_name(dtype: torch.dtype) -> str:
    for name, d in DTYPES.items():
        if d == dtype:
            return name
    raise BitrobustError(f"cannot export tensors of dtype {dtype}; valid: {', '.join(DTYPES)}")


def _check_fixed_point(state: QuantizedState) -> None:
    other = next((n for n, qt in state.tensors.items() if not isinstance(qt, QuantizedTensor)), None)
    if other is not None:
        raise BitrobustError(f"tensor {other!r} is not in contract 1's per-tensor fixed point: memory images of "
                             "other number formats (layout v2 with metadata words) are not supported yet")


def build_manifest(state: QuantizedState, image: torch.Tensor | None = None) -> dict[str, Any]:
    """The JSON manifest of ``state`` (``image``: its packed bytes, for the checksum).

    >>> from bitrobust.quantization import FixedPointQuantizer, quantize_model
    >>> manifest = build_manifest(quantize_model(torch.nn.Linear(3, 2), FixedPointQuantizer(4)))
    >>> manifest["num_words"], manifest["num_bytes"], [(t["name"], t["word_offset"]) for t in manifest["tensors"]]
    (8, 4, [('weight', 0), ('bias', 6)])
    >>> validate_manifest(manifest)  # no error: consistent
    """
    _check_fixed_point(state)
    bits = check_bits(state.bits)
    schemes = {qt.scheme for qt in state.tensors.values()}
    if len(schemes) > 1:
        raise BitrobustError("a memory image needs one quantization scheme for all tensors, got several")
    for name, qt in state.tensors.items():
        if qt.bits != bits:
            raise BitrobustError(
                f"tensor {name!r} has {qt.bits} bits but the state has {bits}; a memory image needs one word size"
            )
    scheme = schemes.pop() if schemes else QuantScheme()
    tensors, pos = [], 0
    for name, qt in state.tensors.items():
        n = qt.codes.numel()
        tensors.append(
            {
                "name": name,
                "shape": [int(s) for s in qt.codes.shape],
                "dtype": _dtype_name(qt.dtype),
                "word_offset": pos,
                "num_words": n,
                "q_min": float(qt.qrange[0]),
                "q_max": float(qt.qrange[1]),
            }
        )
        pos += n
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "layout": LAYOUT,
        "bits": bits,
        "scheme": dataclasses.asdict(scheme),
        "num_words": pos,
        "num_bytes": num_image_bytes(pos, bits),
    }
    if image is not None:
        manifest["sha256"] = hashlib.sha256(image.cpu().numpy().tobytes()).hexdigest()
    manifest["tensors"] = tensors
    return manifest


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_manifest(manifest: Any, where: str = "manifest") -> None:
    """Check a manifest's structure and consistency; raises BitrobustError with the first problem."""

    def bad(msg: str) -> BitrobustError:
        return BitrobustError(f"{where}: {msg}")

    if not isinstance(manifest, dict):
        raise bad("not a JSON object")
    if manifest.get("format") != FORMAT:
        raise bad(f"not a bitrobust memory image manifest (format {manifest.get('format')!r})")
    if manifest.get("version") != VERSION:
        raise bad(f"unsupported version {manifest.get('version')!r}; this bitrobust reads version {VERSION}")
    bits = manifest.get("bits")
    if not _is_int(bits) or not 1 <= bits <= 8:
        raise bad(f"bits must be an integer in 1..8, got {bits!r}")
    scheme = manifest.get("scheme")
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
    num_words = manifest.get("num_words")
    if not _is_int(num_words) or num_words < 0:
        raise bad(f"num_words must be a non-negative integer, got {num_words!r}")
    if manifest.get("num_bytes") != num_image_bytes(num_words, bits):
        raise bad(f"num_bytes {manifest.get('num_bytes')!r} does not match {num_words} words of {bits} bits")
    sha = manifest.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
        raise bad("sha256 must be a 64-character hex string")
    tensors = manifest.get("tensors")
    if not isinstance(tensors, list):
        raise bad("tensors must be a list")
    pos, names = 0, set()
    for k, t in enumerate(tensors):
        if not isinstance(t, dict) or set(t) != set(_TENSOR_KEYS):
            raise bad(f"tensor #{k} must have exactly the fields {list(_TENSOR_KEYS)}")
        name = t["name"]
        if not isinstance(name, str) or name in names:
            raise bad(f"tensor #{k}: name must be a unique string, got {name!r}")
        names.add(name)
        shape = t["shape"]
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise bad(f"tensor {name!r}: shape must be a list of non-negative integers, got {shape!r}")
        if t["dtype"] not in DTYPES:
            raise bad(f"tensor {name!r}: unknown dtype {t['dtype']!r}; valid: {', '.join(DTYPES)}")
        if not _is_int(t["word_offset"]) or t["word_offset"] != pos:
            raise bad(f"tensor {name!r}: word_offset {t['word_offset']!r} should be {pos} (tensors are laid out back to back)")
        if not _is_int(t["num_words"]) or t["num_words"] != math.prod(shape):
            raise bad(f"tensor {name!r}: num_words {t['num_words']!r} does not match shape {shape}")
        if not (_is_number(t["q_min"]) and _is_number(t["q_max"])) or t["q_min"] > t["q_max"]:
            raise bad(f"tensor {name!r}: q_min, q_max must be finite numbers with q_min <= q_max")
        pos += t["num_words"]
    if pos != num_words:
        raise bad(f"tensors hold {pos} words but num_words is {num_words}")


def _manifest_text(manifest: dict[str, Any]) -> str:
    """Indented JSON with one line per tensor (readable and diffable)."""
    head = {k: v for k, v in manifest.items() if k != "tensors"}
    lines = json.dumps(head, indent=2, allow_nan=False)[:-2]
    rows = ",\n".join("    " + json.dumps(t, allow_nan=False) for t in manifest["tensors"])
    return f'{lines},\n  "tensors": [\n{rows}\n  ]\n}}'


def _paths(path_prefix: str | os.PathLike) -> tuple[Path, Path]:
    prefix = os.fspath(path_prefix)
    return Path(prefix + ".bin"), Path(prefix + ".json")


def export_memory_image(state: QuantizedState, path_prefix: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<prefix>.bin`` (the packed words of ``state``) and ``<prefix>.json`` (its manifest).

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
    _check_fixed_point(state)
    image = pack_bits(state.flat_codes(), check_bits(state.bits)).cpu()
    try:
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
    """Read ``<prefix>.bin`` + ``<prefix>.json`` back into a QuantizedState (codes, ranges, dtypes).

    The image size must match the manifest. The manifest's sha256 is that of the image
    as exported; it is only checked with ``verify_checksum=True``, because an image read
    back from a faulty memory is expected to differ.
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
    bits = manifest["bits"]
    scheme = QuantScheme(**manifest["scheme"])
    flat = unpack_bits(data, bits, manifest["num_words"])
    tensors: OrderedDict[str, QuantizedTensor] = OrderedDict()
    for t in manifest["tensors"]:
        codes = flat[t["word_offset"] : t["word_offset"] + t["num_words"]].reshape(t["shape"]).clone()
        tensors[t["name"]] = QuantizedTensor(codes, bits, scheme, (float(t["q_min"]), float(t["q_max"])), DTYPES[t["dtype"]])
    return QuantizedState(tensors, bits)


__all__ = [
    "FORMAT",
    "VERSION",
    "build_manifest",
    "export_memory_image",
    "import_memory_image",
    "num_image_bytes",
    "pack_bits",
    "read_manifest",
    "unpack_bits",
    "validate_manifest",
]
