"""Profiled chips: measured per-cell fault maps of an SRAM array (paper 3, Sec. 5.3, App. C.1, G.5).

Profiling a memory array at a low voltage gives, per bit cell, the probability that a
stored 0 reads as 1 (map p_0t1) and that a stored 1 reads as 0 (map p_1t0); cells
with probability 1 are persistent ("stuck") faults, cells strictly between 0 and 1
transient ones (Fig. 8). The model's words are mapped linearly onto the array with an
offset: bit address a = i*m + j (contract 2) sits in cell (a + offset) mod (rows*cols),
row-major, wrapping around; evaluation averages over several offsets (App. C.1).

File formats (always read with ``np.load(..., allow_pickle=False)``):

- ``.npz`` with arrays ``flip_0to1`` and ``flip_1to0`` (rows x cols, float in [0, 1]
  or bool), optional ``stuck_at`` (rows x cols integers in {-1, 0, 1}: -1 = none,
  0 = stuck at 0, 1 = stuck at 1) and optional ``name`` (a 0-d string array).
  ``ProfiledChip.save`` writes this format.
- ``.npy`` holding one rows x cols array, either a **code map** of integers
  (0 = ok, 1 = always flips 0->1, 2 = always flips 1->0, 3 = always flips both ways,
  i.e. bit 0 of the code is the 0->1 flag and bit 1 the 1->0 flag), a **bool map**
  (True = the cell always flips whatever is stored, the random model of Sec. 3) or a
  **float map** of symmetric flip probabilities (p_0t1 = p_1t0 = value).
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bitrobust.bit_errors.hashing import derive_key, hash_uniform, int_seed
from bitrobust.bit_errors.random_chips import flip_bits, start_address
from bitrobust.errors import BitrobustError
from bitrobust.io import atomic_path
from bitrobust.limits import check_allocation

_PURPOSE_READ = 0x50524F46  # "PROF": the hash stream of transient reads
_PURPOSE_DATA = 0x44415441  # "DATA": the random bits ``ProfiledChip.flip_rate`` stores
_NPZ_REQUIRED = ("flip_0to1", "flip_1to0")
_NPZ_OPTIONAL = ("stuck_at", "name")


# ----------------------------------------------------------------------------- validation


def _as_numpy(x, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - anything numpy cannot read is a user error
        raise BitrobustError(f"{what}: cannot read as an array ({exc})") from None
    return arr


def _check_2d(arr: np.ndarray, what: str) -> None:
    if arr.ndim != 2:
        raise BitrobustError(f"{what} must be a 2-D rows x cols map, got shape {tuple(arr.shape)}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BitrobustError(f"{what} must have at least one row and one column, got shape {tuple(arr.shape)}")


def _probability_map(x, what: str) -> torch.Tensor:
    """A rows x cols float32 map of probabilities in [0, 1] (bool and 0/1 integer maps allowed)."""
    arr = _as_numpy(x, what)
    _check_2d(arr, what)
    if arr.dtype == np.bool_:
        return torch.from_numpy(arr.astype(np.float32))
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise BitrobustError(f"{what}: integer maps may only hold 0 and 1, got values in [{arr.min()}, {arr.max()}]")
        return torch.from_numpy(arr.astype(np.float32))
    if not np.issubdtype(arr.dtype, np.floating):
        raise BitrobustError(f"{what} must be a float (probability) or bool map, got dtype {arr.dtype}")
    arr64 = arr.astype(np.float64)
    if not np.all(np.isfinite(arr64)):
        raise BitrobustError(f"{what} contains NaN or infinite values")
    if arr64.min() < 0.0 or arr64.max() > 1.0:
        raise BitrobustError(f"{what}: probabilities must be in [0, 1], got values in [{arr64.min()}, {arr64.max()}]")
    return torch.from_numpy(arr64.astype(np.float32))


def _stuck_map(x, what: str = "stuck_at") -> torch.Tensor:
    arr = _as_numpy(x, what)
    _check_2d(arr, what)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise BitrobustError(f"{what} must be an integer map (-1 none, 0 stuck at 0, 1 stuck at 1), got dtype {arr.dtype}")
    bad = ~np.isin(arr, (-1, 0, 1))
    if bad.any():
        raise BitrobustError(f"{what} values must be -1 (none), 0 or 1, got {arr[bad].flat[0]}")
    return torch.from_numpy(arr.astype(np.int8))


# ----------------------------------------------------------------------------- the chip


@dataclass(frozen=True)
class ChipStats:
    """Key statistics of a chip, as fractions of cells (App. C.1's table, which is in %).

    With the *effective* read maps P01 = P(read 1 | stored 0) and P10 = P(read 0 | stored 1)
    (stuck-at cells folded in: stuck at 1 -> P01 = 1, P10 = 0; stuck at 0 -> the reverse):

    - p_0t1 = mean over cells of P01, p_1t0 = mean over cells of P10;
    - p = p_0t1 + p_1t0 (so a cell that flips both ways counts twice; on data with as
      many 0s as 1s the expected fraction of flipped bits is p / 2);
    - p_sa = mean(P01 == 1) + mean(P10 == 1): the persistent part of p (cells that
      flip that way on every read, stuck-at cells included), p_sa <= p;
    - faulty = fraction of cells with P01 > 0 or P10 > 0.

    >>> chip_from_code_map([[0, 1], [2, 3]]).stats()
    ChipStats(p=1.0, p_0t1=0.5, p_1t0=0.5, p_sa=1.0, faulty=0.75, rows=2, cols=2)
    """

    p: float
    p_0t1: float
    p_1t0: float
    p_sa: float
    faulty: float
    rows: int
    cols: int

    def percent(self) -> dict[str, float]:
        """p, p_0t1, p_1t0, p_sa in %, the units of the paper's table."""
        return {k: 100.0 * getattr(self, k) for k in ("p", "p_0t1", "p_1t0", "p_sa")}


@dataclass(frozen=True)
class _Faults:
    """Sparse list of the cells that can flip: cell index and effective P01, P10 (float64)."""

    cells: torch.Tensor
    p01: torch.Tensor
    p10: torch.Tensor


@dataclass(frozen=True, eq=False)
class ProfiledChip:
    """Per-cell fault behaviour of a rows x cols bit array (see the module docstring).

    ``flip_0to1[r, c]`` is the probability that a 0 stored in cell (r, c) reads as 1,
    ``flip_1to0[r, c]`` that a stored 1 reads as 0 (1 = always, 0 = never; bool and
    0/1 integer maps allowed; numpy arrays or tensors). ``stuck_at`` (optional, int8: -1 none, 0/1 stuck value) overrides both
    maps: a stuck cell always reads its stuck value. Maps are stored as float32/int8
    CPU tensors.

    >>> chip = ProfiledChip([[0.0, 1.0], [0.5, 0.0]], [[0.0, 0.0], [0.0, 1.0]], name="tiny")
    >>> chip
    ProfiledChip(name='tiny', rows=2, cols=2, p=62.5000%, p_0t1=37.5000%, p_1t0=25.0000%, p_sa=50.0000%)
    >>> chip.faults().cells.tolist(), chip.persistent().stats().p
    ([1, 2, 3], 0.5)
    """

    flip_0to1: torch.Tensor
    flip_1to0: torch.Tensor
    stuck_at: torch.Tensor | None = None
    name: str = ""
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p01 = _probability_map(self.flip_0to1, "flip_0to1")
        p10 = _probability_map(self.flip_1to0, "flip_1to0")
        if p01.shape != p10.shape:
            raise BitrobustError(
                f"flip_0to1 and flip_1to0 must have the same shape, got {tuple(p01.shape)} and {tuple(p10.shape)}"
            )
        sa = None
        if self.stuck_at is not None:
            sa = _stuck_map(self.stuck_at)
            if sa.shape != p01.shape:
                raise BitrobustError(f"stuck_at must have shape {tuple(p01.shape)} like the flip maps, got {tuple(sa.shape)}")
        object.__setattr__(self, "flip_0to1", p01)
        object.__setattr__(self, "flip_1to0", p10)
        object.__setattr__(self, "stuck_at", sa)
        object.__setattr__(self, "name", str(self.name))

    # -- shape
    @property
    def rows(self) -> int:
        return int(self.flip_0to1.shape[0])

    @property
    def cols(self) -> int:
        return int(self.flip_0to1.shape[1])

    @property
    def num_cells(self) -> int:
        return self.rows * self.cols

    def __repr__(self) -> str:
        s = self.stats()
        return (
            f"ProfiledChip(name={self.name!r}, rows={self.rows}, cols={self.cols}, "
            f"p={s.p:.4%}, p_0t1={s.p_0t1:.4%}, p_1t0={s.p_1t0:.4%}, p_sa={s.p_sa:.4%})"
        )

    # -- semantics
    def read_maps(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Effective (P01, P10) maps with stuck-at folded in (float64, rows x cols).

        P01 = 1 where stuck at 1, 0 where stuck at 0, flip_0to1 elsewhere; P10 likewise.
        """
        p01 = self.flip_0to1.to(torch.float64)
        p10 = self.flip_1to0.to(torch.float64)
        if self.stuck_at is not None:
            s = self.stuck_at.to(torch.int64)
            p01 = torch.where(s == 1, 1.0, torch.where(s == 0, 0.0, p01))
            p10 = torch.where(s == 0, 1.0, torch.where(s == 1, 0.0, p10))
        return p01, p10

    def stats(self) -> ChipStats:
        """Key statistics (fractions of cells, see :class:`ChipStats`)."""
        p01, p10 = self.read_maps()
        n = self.num_cells
        p_0t1 = float(p01.sum()) / n
        p_1t0 = float(p10.sum()) / n
        p_sa = (float((p01 == 1).sum()) + float((p10 == 1).sum())) / n
        faulty = float(((p01 > 0) | (p10 > 0)).sum()) / n
        return ChipStats(p_0t1 + p_1t0, p_0t1, p_1t0, p_sa, faulty, self.rows, self.cols)

    def flip_rate(self, seed: int = 0) -> float:
        """Measured effective flip rate: the fraction of cells that read wrong when every cell holds a
        random bit (a hash of ``seed``) and is read once (``ProfiledBitErrors(self, seed=seed)``).

        A directional fault flips only when the other bit is stored, so this is about p / 2,
        and for persistent faults about half the faulty-cell rate ``stats().faulty``.

        >>> chip_from_code_map([[1] * 100] * 100).flip_rate()  # every cell flips 0->1 (stuck at 1)
        0.4984
        """
        stored = (hash_uniform(derive_key(int_seed(seed), _PURPOSE_DATA), torch.arange(self.num_cells)) < 0.5)
        flips = ProfiledBitErrors(self, 0, seed).flip_addresses(stored.to(torch.uint8), bits=1)
        return flips.numel() / self.num_cells

    def faults(self, device: torch.device | str = "cpu") -> _Faults:
        """The cells that can flip (row-major index) with their P01, P10; cached per device."""
        device = torch.device(device)
        key = str(device)
        if key not in self._cache:
            if "cpu" not in self._cache:
                p01, p10 = self.read_maps()
                p01, p10 = p01.reshape(-1), p10.reshape(-1)
                cells = torch.nonzero((p01 > 0) | (p10 > 0)).reshape(-1)
                self._cache["cpu"] = _Faults(cells, p01[cells], p10[cells])
            cpu = self._cache["cpu"]
            self._cache[key] = _Faults(cpu.cells.to(device), cpu.p01.to(device), cpu.p10.to(device))
        return self._cache[key]

    def persistent(self) -> "ProfiledChip":
        """Only the persistent faults (probability 1), as PATTBET uses them (App. G.5, Tab. 16)."""
        p01, p10 = self.read_maps()
        return ProfiledChip(p01 == 1, p10 == 1, None, f"{self.name}/persistent" if self.name else "persistent")

    # -- files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the maps as ``.npz`` (flip_0to1, flip_1to0 float32; stuck_at int8 if set; name), atomically."""
        path = Path(path)
        if path.suffix != ".npz":
            raise BitrobustError(f"profiled chip maps are saved as .npz, got {str(path)!r}")
        arrays = {"flip_0to1": self.flip_0to1.numpy(), "flip_1to0": self.flip_1to0.numpy()}
        if self.stuck_at is not None:
            arrays["stuck_at"] = self.stuck_at.numpy()
        arrays["name"] = np.array(self.name)  # a 0-d unicode array, loadable without pickle
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ProfiledChip":
        return load_chip(path)


def chip_from_code_map(codes, name: str = "") -> ProfiledChip:
    """A chip from a code map: 0 ok, 1 always 0->1, 2 always 1->0, 3 always both ways (see module).

    >>> chip_from_code_map([[0, 1], [2, 3]]).read_maps()[0].tolist()
    [[0.0, 1.0], [0.0, 1.0]]
    """
    arr = _as_numpy(codes, "code map")
    _check_2d(arr, "code map")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise BitrobustError(f"code map must be integer, got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1, 2, 3))
    if bad.any():
        raise BitrobustError(
            f"code map values must be 0 (ok), 1 (0->1), 2 (1->0) or 3 (both), got {arr[bad].flat[0]}"
        )
    return ProfiledChip((arr & 1) != 0, (arr & 2) != 0, None, name)


def load_chip(path: str | os.PathLike) -> ProfiledChip:
    """Load a chip from ``.npz`` or ``.npy`` (formats in the module docstring), never unpickling.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = chip_from_code_map([[0, 1], [2, 3]], name="tiny").save(Path(d) / "tiny.npz")
    ...     load_chip(path).stats().p_sa
    1.0
    """
    path = Path(path)
    if not path.is_file():
        raise BitrobustError(f"profiled chip map not found: {str(path)!r}")
    _check_array_sizes(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:  # pickled data, object arrays
        raise BitrobustError(f"cannot load chip map {str(path)!r}: {exc} (only plain numeric arrays are read)") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise BitrobustError(f"cannot load chip map {str(path)!r}: {exc}") from None
    if isinstance(loaded, np.ndarray):
        return _chip_from_array(loaded, path.stem, str(path))
    with loaded as npz:
        names = set(npz.files)
        missing = [k for k in _NPZ_REQUIRED if k not in names]
        unknown = sorted(names - set(_NPZ_REQUIRED) - set(_NPZ_OPTIONAL))
        if missing or unknown:
            raise BitrobustError(
                f"chip map {str(path)!r} must hold arrays flip_0to1, flip_1to0 and optionally stuck_at, name; "
                f"missing {missing}, unknown {unknown}"
            )
        try:
            arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise BitrobustError(f"cannot load chip map {str(path)!r}: {exc}") from None
    name = path.stem
    if "name" in arrays:
        if arrays["name"].ndim != 0 or arrays["name"].dtype.kind != "U":
            raise BitrobustError(f"chip map {str(path)!r}: 'name' must be a 0-d string array")
        name = str(arrays["name"])
    try:
        return ProfiledChip(arrays["flip_0to1"], arrays["flip_1to0"], arrays.get("stuck_at"), name)
    except BitrobustError as exc:
        raise BitrobustError(f"chip map {str(path)!r}: {exc}") from None


_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _check_array_sizes(path: Path) -> None:
    """Read the array headers of a .npy or .npz file (nothing else) and refuse arrays whose header claims
    more bytes than the file holds, or more than :func:`~bitrobust.limits.check_allocation` allows, so
    ``np.load`` never allocates for a lying or huge header."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                f.seek(0)
                _check_npy_header(f, path.stat().st_size, str(path))
                return
            f.seek(0)
            with zipfile.ZipFile(f) as npz:
                for info in npz.infolist():
                    with npz.open(info) as member:
                        _check_npy_header(member, info.file_size, f"{path}:{info.filename}")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise BitrobustError(f"cannot load chip map {str(path)!r}: not a .npy or .npz array file ({exc})") from None


def _check_npy_header(f, size: int, where: str) -> None:
    version = np.lib.format.read_magic(f)
    if version not in _NPY_HEADER_READERS:
        raise ValueError(f"unsupported .npy format version {version}")
    shape, _, dtype = _NPY_HEADER_READERS[version](f)
    data = size - f.tell()  # the bytes after the header
    elements = math.prod(shape)
    check_allocation(elements, elements * dtype.itemsize, f"chip map {where!r}")
    if elements * dtype.itemsize > data:
        raise BitrobustError(f"chip map {where!r}: its header claims shape {shape} of {dtype} "
                             f"({elements * dtype.itemsize:,} bytes) but the file holds {max(data, 0):,} "
                             "(truncated or corrupt)")


def _chip_from_array(arr: np.ndarray, name: str, where: str) -> ProfiledChip:
    try:
        if arr.dtype == np.bool_:
            return ProfiledChip(arr, arr, None, name)
        if np.issubdtype(arr.dtype, np.integer):
            return chip_from_code_map(arr, name)
        if np.issubdtype(arr.dtype, np.floating):
            return ProfiledChip(arr, arr, None, name)
        raise BitrobustError(f"a .npy chip map must be an integer code map, a bool map or a float map, got dtype {arr.dtype}")
    except BitrobustError as exc:
        raise BitrobustError(f"chip map {where!r}: {exc}") from None


# ----------------------------------------------------------------------------- reading words


def cell_occurrences(
    cells: torch.Tensor, offset: int, num_cells: int, start: int, stop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """All bit addresses a in [start, stop) stored in the given cells: (a + offset) mod n = cell.

    a = first + k n with first = start + ((cell - offset - start) mod n), k = 0, 1, ...
    Returns (index into ``cells``, address), both int64.

    >>> cell_occurrences(torch.tensor([1]), offset=0, num_cells=4, start=0, stop=12)
    (tensor([0, 0, 0]), tensor([1, 5, 9]))
    """
    n = num_cells
    first = start + torch.remainder(cells - offset - start, n)
    count = torch.div(stop - first + n - 1, n, rounding_mode="floor").clamp(min=0)
    total = int(count.sum())
    idx = torch.repeat_interleave(torch.arange(len(cells), device=cells.device), count)
    lap = torch.arange(total, device=cells.device) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
    return idx, first[idx] + lap * n


class ProfiledBitErrors:
    """Bit errors of a profiled chip with the words mapped at ``offset`` (App. C.1).

    ``apply(codes, bits, word_offset)`` reads the words through the chip: bit address
    a = (word_offset + i) m + j lives in cell c = (a + offset) mod (rows cols); a stored
    0 reads as 1 iff u(seed, a) < P01[c], a stored 1 reads as 0 iff u(seed, a) < P10[c],
    where u is a hash-based uniform in [0, 1) that depends only on (seed, a). So
    probabilities 0 and 1 act deterministically, the rest are drawn with the seed: an
    int seed gives the same read every time (and for any split of the words into
    chunks); a ``torch.Generator`` draws a fresh seed per ``apply`` (transient reads).
    Costs O(faulty cells x laps), never a loop or a draw per bit.

    >>> chip = chip_from_code_map([[0, 1], [2, 3]])  # cell 1 flips 0->1, 2 flips 1->0, 3 both
    >>> read = ProfiledBitErrors(chip)
    >>> read.apply(torch.tensor([0, 0, 0, 0], dtype=torch.uint8), bits=1).tolist()
    [0, 1, 0, 1]
    >>> read.apply(torch.tensor([1, 1, 1, 1], dtype=torch.uint8), bits=1).tolist()
    [1, 1, 0, 0]
    """

    def __init__(self, chip: ProfiledChip, offset: int = 0, seed: int | torch.Generator = 0) -> None:
        if not isinstance(chip, ProfiledChip):
            raise BitrobustError(f"chip must be a ProfiledChip, got {type(chip).__name__}")
        if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
            raise BitrobustError(f"offset must be an integer number of bits, got {offset!r}")
        self.chip = chip
        self.offset = int(offset) % chip.num_cells
        self.seed = seed if isinstance(seed, torch.Generator) else int_seed(seed)

    def __repr__(self) -> str:
        seed = "generator" if isinstance(self.seed, torch.Generator) else self.seed
        return f"ProfiledBitErrors(chip={self.chip.name!r}, offset={self.offset}, seed={seed})"

    def flip_addresses(self, codes: torch.Tensor, bits: int, word_offset: int = 0, *,
                       bit_offset: int | None = None) -> torch.Tensor:
        """Absolute bit addresses that read wrong when ``codes`` are stored at ``word_offset`` (or from bit
        address ``bit_offset``; int64)."""
        flat = codes.reshape(-1)
        device = flat.device
        start = start_address(bits, word_offset, bit_offset)
        stop = start + flat.numel() * bits
        faults = self.chip.faults(device)
        if stop <= start or faults.cells.numel() == 0:
            return torch.zeros(0, dtype=torch.int64, device=device)
        idx, addr = cell_occurrences(faults.cells, self.offset, self.chip.num_cells, start, stop)
        rel = addr - start
        word = torch.div(rel, bits, rounding_mode="floor")
        stored = (flat[word].to(torch.int64) >> (rel - word * bits)) & 1
        q = torch.where(stored == 1, faults.p10[idx], faults.p01[idx])  # P(read wrong | stored bit)
        flip = q >= 1.0
        drawn = (q > 0.0) & (q < 1.0)
        if bool(drawn.any()):
            key = derive_key(int_seed(self.seed), _PURPOSE_READ)
            flip[drawn] = hash_uniform(key, addr[drawn]) < q[drawn]
        return addr[flip]

    def apply(self, codes: torch.Tensor, bits: int, word_offset: int = 0, *, bit_offset: int | None = None) -> torch.Tensor:
        """Words ``codes`` (``bits`` bits each, stored at ``word_offset`` or from bit address ``bit_offset``)
        as read from the chip."""
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise BitrobustError(f"codes must be an integer tensor of words, got {codes.dtype}")
        flat = codes.reshape(-1)
        # one seed per call, so a Generator-driven read is one consistent draw
        reader = self if not isinstance(self.seed, torch.Generator) else ProfiledBitErrors(
            self.chip, self.offset, int_seed(self.seed)
        )
        addr = reader.flip_addresses(flat, bits, word_offset, bit_offset=bit_offset)
        return flip_bits(flat, bits, addr - start_address(bits, word_offset, bit_offset)).view(codes.shape)


def chip_offsets(
    chip: ProfiledChip | int,
    n: int,
    *,
    mode: str = "even",
    seed: int | torch.Generator = 0,
    align: int = 1,
) -> list[int]:
    """n mapping offsets (in bits) for averaging over weight-to-memory mappings (App. C.1).

    ``mode="even"``: offset_k = floor(k N / n) rounded down to a multiple of ``align``,
    k = 0..n-1 (N = rows cols), so offset 0 is always included and the rest are evenly
    spread. ``mode="random"``: n independent uniform multiples of ``align`` in [0, N)
    drawn from ``seed``. ``align=bits`` keeps every word in whole cells of one row
    segment (word-aligned mappings); the default 1 allows any bit offset.

    >>> chip_offsets(1000, 4), chip_offsets(1000, 4, align=8)
    ([0, 250, 500, 750], [0, 248, 496, 744])
    """
    num = chip.num_cells if isinstance(chip, ProfiledChip) else int(chip)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BitrobustError(f"number of offsets must be a positive integer, got {n!r}")
    if isinstance(align, bool) or not isinstance(align, int) or not 1 <= align <= num:
        raise BitrobustError(f"align must be an integer in 1..{num}, got {align!r}")
    slots = num // align
    if mode == "even":
        return [(k * num // n) // align * align for k in range(n)]
    if mode == "random":
        gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int_seed(seed))
        return [int(v) * align for v in torch.randint(0, slots, (n,), generator=gen)]
    raise BitrobustError(f"unknown offset mode {mode!r}; valid: even, random")


__all__ = [
    "ChipStats",
    "ProfiledBitErrors",
    "ProfiledChip",
    "cell_occurrences",
    "chip_from_code_map",
    "chip_offsets",
    "load_chip",
]
