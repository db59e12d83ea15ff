"""Bit errors in activation buffers: chosen modules' outputs stored as words and read back faulty (contract 7).

Accelerators keep feature maps in the same low-voltage SRAM as weights. A forward hook on each chosen
module (``model.named_modules()`` names matched by globs) encodes its output in a buffer format -- a
number format of :mod:`bitrobust.formats`: fixed point per tensor with a range calibrated on a calibration
set, or float words (fp32, fp16, bf16, fp8_e4m3, fp8_e5m2): :mod:`~bitrobust.injection.buffer_words` --
flips bits of the words and returns the decoded faulty output to the rest of the network. Two error
models, as for weights (paper 3, Sec. 3; contract 2):

- ``transient``: fresh i.i.d. flips with rate p at every forward pass (every module output is read
  anew; :func:`transient_addresses` draws the flips from a ``torch.Generator`` seeded once per
  ``with`` block), as in the BNN papers' model;
- ``persistent``: a chip c. The buffer cell is the element index within ONE example's output, so the
  same cells are faulty for every example of every batch. Buffer addresses: the chosen modules in
  ``named_modules()`` order, each module's per-example output row-major after the ones before it;
  word i holds bits a = i m + j (j = 0 the least significant). Bit a is faulty iff u_c(a) < p with
  contract 2's u (``RandomBitErrors``), under a chip seed of its own (``ACTIVATION_CHIP_SALT``), so the
  buffer is a memory separate from the weights', a pure function of (chip seed, a), and the faulty
  cells at p' <= p are a subset of those at p.

Protection and targeting (contract 6) are bit positions: ``protect`` bits are stored reliably,
``target_bits`` are the only ones that may flip. Only the chosen modules' outputs are affected; the
weights are never touched, so :func:`~bitrobust.injection.inject` (weight errors) combines with
:func:`activation_faults` in one ``with`` statement. Gradients pass straight through the faults
(the forward pass sees the faulty values exactly, the backward pass the gradient of the stored
output), so RandBET can train with them.
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Literal, Mapping, Sequence

import torch
from torch import nn

from bitrobust.bit_errors import RandomBitErrors, check_rate, chip_seed
from bitrobust.bit_errors.hashing import int_seed
from bitrobust.device import model_device
from bitrobust.errors import BitrobustError
from bitrobust.injection.buffer_words import BufferFormat, buffer_format, codec_for, needs_range, round_trip
from bitrobust.quantization import restored
from bitrobust.tasks import Classification, Task, to_device

Mode = Literal["transient", "persistent"]
MODES = ("transient", "persistent")
ACTIVATION_CHIP_SALT = 20240612  # activation chips c: seeds chip_seed(c, ACTIVATION_CHIP_SALT), not the weights'
CPU_CHUNK = 1 << 17  # elements read at a time on the CPU (see ActivationFaults.read)
BIT_NAMES = ("msb", "sign")  # both name bit m-1 (the sign of floats and two's complement words)


def match_modules(model: nn.Module, modules: str | Sequence[str]) -> list[str]:
    """Names of ``model``'s submodules matching any glob of ``modules`` (a glob, comma-separated globs
    or a list of them), in ``named_modules()`` order; the model itself (name "") is never matched.

    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> match_modules(model, "0,2"), match_modules(model, ["*"])
    (['0', '2'], ['0', '1', '2'])
    """
    globs = [g.strip() for g in (modules.split(",") if isinstance(modules, str) else modules)]
    globs = [g for g in globs if g]
    if not globs:
        raise BitrobustError("no activation modules given (a glob over model.named_modules(), e.g. 'features.*')")
    names = [n for n, _ in model.named_modules() if n]
    for g in globs:
        if not any(fnmatch.fnmatchcase(n, g) for n in names):
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise BitrobustError(f"activation glob {g!r} matches no module of the model; modules: {shown}")
    return [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]


# -- calibration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationCalibration:
    """Per chosen module (``named_modules()`` order): the shape of one example's output and the range
    (min, max) of its values over the calibration set (every element of every calibration example).

    A fixed-point buffer format takes its range from it by its own rule (contract 1): asymmetric
    schemes use [min, max], symmetric ones [-q, q] with q = max |x| = max(-min, max). The shapes
    fix the persistent buffer layout. Calibrate once and reuse it for every chip and rate.
    """

    modules: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    ranges: tuple[tuple[float, float], ...]
    examples: int

    def range_of(self, name: str) -> tuple[float, float]:
        return self.ranges[self._index(name)]

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.shapes[self._index(name)]

    def _index(self, name: str) -> int:
        if name not in self.modules:
            raise BitrobustError(f"module {name!r} was not calibrated; calibrated: {', '.join(self.modules)}")
        return self.modules.index(name)

    def to_dict(self) -> dict:
        return {"examples": self.examples, "modules": {n: {"shape": list(s), "range": list(r)}
                                                       for n, s, r in zip(self.modules, self.shapes, self.ranges)}}


class _RangeRecorder:
    """Forward hooks that record each module's per-example output shape and running (min, max)."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        self.names = names
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.ranges: dict[str, tuple[float, float]] = {}
        self.examples = 0
        modules = dict(model.named_modules())
        self.handles = [modules[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            out = _floating_output(name, output).detach()
            shape = tuple(out.shape[1:])
            if self.shapes.setdefault(name, shape) != shape:
                raise BitrobustError(f"module {name!r}: per-example output shape {shape} differs from "
                                     f"{self.shapes[name]} in an earlier batch")
            if out.numel():
                lo, hi = torch.aminmax(out)
                old = self.ranges.get(name, (float(lo), float(hi)))
                self.ranges[name] = (min(old[0], float(lo)), max(old[1], float(hi)))
            if name == self.names[0]:
                self.examples += out.shape[0]
        return hook

    def result(self) -> ActivationCalibration:
        missing = [n for n in self.names if n not in self.ranges]
        if missing:
            raise BitrobustError(f"module {missing[0]!r} produced no output during calibration")
        return ActivationCalibration(tuple(self.names), tuple(self.shapes[n] for n in self.names),
                                     tuple(self.ranges[n] for n in self.names), self.examples)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


@contextlib.contextmanager
def recording_ranges(model: nn.Module, modules: str | Sequence[str]) -> Iterator[_RangeRecorder]:
    """Record the chosen modules' output ranges during the forward passes of the block; ``.result()``
    afterwards is the :class:`ActivationCalibration` (RandBET calibrates on its clean pass this way).

    >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    >>> with recording_ranges(model, "1") as rec:
    ...     _ = model(torch.tensor([[1.0, -1.0]]))
    >>> rec.result().range_of("1")[0] >= 0.0
    True
    """
    recorder = _RangeRecorder(model, match_modules(model, modules))
    try:
        yield recorder
    finally:
        recorder.remove()


@torch.inference_mode()
def calibrate_activations(model: nn.Module, data: Iterable[Any], modules: str | Sequence[str], *,
                          batches: int | None = None, task: Task | None = None) -> ActivationCalibration:
    """Ranges of the chosen modules' outputs over ``data`` (the first ``batches`` batches; all if None),
    with the model in eval mode (restored afterwards); batches are split by ``task`` (classification).

    >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    >>> calib = calibrate_activations(model, [(torch.randn(8, 2), torch.zeros(8))], "*")
    >>> calib.modules, calib.shape_of("0"), calib.examples
    (('0', '1'), (2,), 8)
    """
    task = task or Classification()
    device = model_device(model)
    with restored(model), recording_ranges(model, modules) as recorder:
        model.eval()
        for i, batch in enumerate(data):
            if batches is not None and i >= batches:
                break
            inputs = to_device(task.split(batch)[0], device)
            model(**inputs) if isinstance(inputs, Mapping) else model(inputs)
    return recorder.result()


# -- faults --------------------------------------------------------------------------------------


def _floating_output(name: str, output: Any) -> torch.Tensor:
    if not (isinstance(output, torch.Tensor) and output.is_floating_point()):
        raise BitrobustError(f"module {name!r} returns {type(output).__name__}, not a floating-point tensor; "
                             "choose modules whose output is one")
    return output


def bit_positions(bits: int, positions: Iterable[int | str]) -> list[int]:
    """Bit positions (0 = least significant) from ints and the names msb/sign (bit m-1).

    >>> bit_positions(8, ["msb", 0])
    [0, 7]
    """
    out = set()
    for b in positions:
        if isinstance(b, str):
            if b not in BIT_NAMES:
                raise BitrobustError(f"unknown bit position {b!r}; valid: an integer 0..{bits - 1}, {', '.join(BIT_NAMES)}")
            b = bits - 1
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < bits:
            raise BitrobustError(f"bit position must be an integer in 0..{bits - 1} (words of {bits} bits), got {b!r}")
        out.add(b)
    return sorted(out)


def transient_addresses(n_bits: int, p: float, generator: torch.Generator,
                        device: torch.device | str = "cpu") -> torch.Tensor:
    """Sorted addresses in [0, n_bits) of fresh i.i.d. flips with rate ``p`` (a transient read).

    The gaps between flipped bits are geometric: G = floor(ln(1 - U) / ln(1 - p)) + 1 with U ~ U[0, 1)
    (P(G > k) = (1 - p)^k), and the flips sit at cumsum(G) - 1. Only about n_bits p numbers are drawn
    (from ``generator``, on the CPU), in float32: U is a multiple of 2^-24, so the gap law is exact to
    about 2^-24, and twice as fast to draw as in float64 -- for a buffer read anew at every forward
    pass this is cheaper than hashing a chip's blocks (``RandomBitErrors``).

    >>> g = torch.Generator().manual_seed(0)
    >>> a = transient_addresses(100_000, 0.01, g)
    >>> bool((a.diff() > 0).all()), 800 < len(a) < 1200
    (True, True)
    """
    if p <= 0.0 or n_bits <= 0:
        return torch.zeros(0, dtype=torch.int64, device=device)
    if p >= 1.0:
        return torch.arange(n_bits, device=device)
    log_q = math.log1p(-p)
    parts, end = [], -1
    while end < n_bits - 1:
        mean = (n_bits - 1 - end) * p
        g = torch.rand(int(mean + 6 * mean**0.5 + 16), generator=generator)
        gaps = g.neg_().log1p_().div_(log_q).to(torch.int64).add_(1)  # floor: the quotient is >= 0
        pos = gaps.cumsum_(0).add_(end)
        parts.append(pos)
        end = int(pos[-1])
    pos = torch.cat(parts) if len(parts) > 1 else parts[0]
    return pos[: int(torch.searchsorted(pos, n_bits))].to(device)


def word_xors(addresses: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct words of sorted bit ``addresses`` (bit a mod m of word a div m flips) and the XOR word of
    each: the sum of 2^(a mod m) over its addresses (distinct bits: sum = or).

    >>> w, x = word_xors(torch.tensor([0, 3, 9, 17]), 8)
    >>> w.tolist(), x.tolist()
    ([0, 1, 2], [9, 2, 2])
    """
    if bits & (bits - 1) == 0:  # m a power of two: shifts instead of an integer division
        words, positions = addresses >> (bits.bit_length() - 1), addresses & (bits - 1)
    else:
        words = torch.div(addresses, bits, rounding_mode="floor")
        positions = addresses - words * bits
    distinct, inverse = torch.unique_consecutive(words, return_inverse=True)
    return distinct, torch.zeros_like(distinct).scatter_add_(0, inverse, torch.ones_like(positions) << positions)


class _StraightThrough(torch.autograd.Function):
    """Forward: the faulty read, exactly; backward: the output's gradient passes unchanged (straight through)."""

    @staticmethod
    def forward(ctx, output: torch.Tensor, faulty: torch.Tensor) -> torch.Tensor:
        return faulty

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class ActivationFaults:
    """The hooks behind :func:`activation_faults` (see the module docstring); :meth:`remove` detaches them."""

    def __init__(self, model: nn.Module, modules: str | Sequence[str], p: float, mode: Mode = "transient", *,
                 chip: int = 0, seed: int | torch.Generator | None = None, format: str | BufferFormat = "int8",
                 calibration: ActivationCalibration | Iterable[Any] | None = None,
                 protect: Iterable[int | str] = (), target_bits: Iterable[int | str] | None = None) -> None:
        self.p = check_rate(p)
        if mode not in MODES:
            raise BitrobustError(f"unknown activation fault mode {mode!r}; valid: {', '.join(MODES)}")
        self.mode = mode
        self.names = match_modules(model, modules)
        fmt = buffer_format(format)
        if calibration is not None and not isinstance(calibration, ActivationCalibration):
            calibration = calibrate_activations(model, calibration, self.names)
        if calibration is None and (needs_range(fmt) or mode == "persistent"):
            need = "a calibrated range" if needs_range(fmt) else "the per-example output shapes"
            raise BitrobustError(f"{mode} activation faults in {_format_name(format)} buffers need {need}: pass "
                                 "calibration= (calibrate_activations(model, batches, modules) or the batches)")
        self.calibration = calibration
        self.codecs = {n: codec_for(fmt, calibration.range_of(n) if calibration else None) for n in self.names}
        self.bits = fmt.bits
        flippable = set(range(self.bits)) if target_bits is None else set(bit_positions(self.bits, target_bits))
        flippable -= set(bit_positions(self.bits, protect))
        self.flippable = sorted(flippable)
        self._allowed = torch.zeros(self.bits, dtype=torch.bool)
        self._allowed[self.flippable] = True
        if mode == "persistent":
            self.chip_seed = chip_seed(chip, ACTIVATION_CHIP_SALT) if seed is None else int_seed(seed)
            self.offsets = self._layout()
            self._cells: dict[tuple[str, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}
        else:
            default = chip_seed(chip, ACTIVATION_CHIP_SALT)
            self.generator = seed if isinstance(seed, torch.Generator) else \
                torch.Generator().manual_seed(default if seed is None else int_seed(seed))
        named = dict(model.named_modules())
        self.handles = [named[n].register_forward_hook(self._hook(n)) for n in self.names]

    def _layout(self) -> dict[str, int]:
        """First word of each module's per-example output in the buffer (module order, then element order)."""
        offsets, pos = {}, 0
        for n in self.names:
            offsets[n] = pos
            pos += int(torch.Size(self.calibration.shape_of(n)).numel())
        return offsets

    def _keep_flippable(self, addresses: torch.Tensor) -> torch.Tensor:
        """The addresses whose bit position may flip (protection and targeting)."""
        if len(self.flippable) == self.bits:
            return addresses
        return addresses[self._allowed.to(addresses.device)[addresses % self.bits]]

    def _persistent_cells(self, name: str, numel: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The faulty cells of ``name``'s per-example buffer and the XOR word of each (built once per device)."""
        shape = self.calibration.shape_of(name)
        if numel != torch.Size(shape).numel():
            raise BitrobustError(f"module {name!r}: a per-example output of {numel} elements does not fit the "
                                 f"persistent buffer layout (calibrated shape {shape}); recalibrate for this input size")
        key = (name, device)
        if key not in self._cells:
            start = self.offsets[name] * self.bits
            chip = RandomBitErrors(self.p, seed=self.chip_seed)
            addresses = self._keep_flippable(chip.flip_addresses(start, start + numel * self.bits, device) - start)
            self._cells[key] = word_xors(addresses.sort().values, self.bits)
        return self._cells[key]

    def read(self, name: str, output: torch.Tensor) -> torch.Tensor:
        """``output`` of module ``name`` ([batch, ...]) stored in its buffer and read back faulty (no gradient):
        the error-free round trip of every word, then the faulty words decoded from their flipped bits.

        On the CPU the round trip goes a few examples at a time (about ``CPU_CHUNK`` elements), so that
        the temporaries stay in cache; the flips are the same either way.
        """
        codec, m = self.codecs[name], self.bits
        x = output.detach()
        rows = x.reshape(x.shape[0] if x.dim() else 1, -1)  # one example per row
        n_rows, per_row = rows.shape
        step = max(1, CPU_CHUNK // max(per_row, 1)) if x.device.type == "cpu" else max(n_rows, 1)
        result = torch.empty(rows.shape, dtype=output.dtype, device=x.device)
        for r in range(0, n_rows, step):
            round_trip(codec, rows[r : r + step], result[r : r + step])
        if self.p > 0.0 and self.flippable and rows.numel() > 0:
            if self.mode == "transient":
                flips = transient_addresses(rows.numel() * m, self.p, self.generator, x.device)
                words, xors = word_xors(self._keep_flippable(flips), m)
            else:  # the same cells in every example: example e's cell i is word e * per_row + i
                cells, cell_xors = self._persistent_cells(name, per_row, x.device)
                words = (torch.arange(n_rows, device=x.device)[:, None] * per_row + cells).view(-1)
                xors = cell_xors.repeat(n_rows)
            stored = codec.encode(rows.reshape(-1).index_select(0, words))
            faulty = codec.decode(stored ^ xors.to(stored.dtype))
            result.view(-1).scatter_(0, words, faulty.to(result.dtype))
        return result.view(output.shape)

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> torch.Tensor:
            out = _floating_output(name, output)
            faulty = self.read(name, out)
            return _StraightThrough.apply(out, faulty) if out.requires_grad else faulty
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def _format_name(fmt: Any) -> str:
    return fmt if isinstance(fmt, str) else type(fmt).__name__


@contextlib.contextmanager
def activation_faults(model: nn.Module, modules: str | Sequence[str], p: float, mode: Mode = "transient", *,
                      chip: int = 0, seed: int | torch.Generator | None = None, format: str | BufferFormat = "int8",
                      calibration: ActivationCalibration | Iterable[Any] | None = None,
                      protect: Iterable[int | str] = (),
                      target_bits: Iterable[int | str] | None = None) -> Iterator[ActivationFaults]:
    """``model`` with the outputs of ``modules`` (globs over ``named_modules()``) stored in ``format``
    buffers and read with bit errors at rate ``p`` inside the block; the hooks are removed after it.

    ``mode``: ``transient`` (fresh flips at every forward; ``seed``, an int or a ``torch.Generator``,
    defaults to one derived from ``chip``) or ``persistent`` (activation chip ``chip``; ``seed``
    picks any other chip seed). ``format``: a format name of :mod:`bitrobust.formats` with one range per
    tensor (int1..int8: RQUANT, normal1..normal8: NORMAL fixed point; fp32, fp16, bf16, fp8_e4m3, fp8_e5m2:
    float words; see ``activation_formats()``), a ``FixedPointQuantizer``, a float format or a codec.
    ``calibration``: an :class:`ActivationCalibration` or batches to calibrate on (needed by fixed point and by
    persistent faults). ``protect``: bit positions never flipped (ints, or ``msb``/``sign``);
    ``target_bits``: the only positions that may flip.

    >>> model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    >>> x = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    >>> clean = model(x)
    >>> with activation_faults(model, "0", p=0.05, format="int8", calibration=[(x, None)]) as faults:
    ...     changed = not torch.equal(model(x), clean)
    >>> changed, faults.names, torch.equal(model(x), clean)
    (True, ['0'], True)
    """
    faults = ActivationFaults(model, modules, p, mode, chip=chip, seed=seed, format=format,
                              calibration=calibration, protect=protect, target_bits=target_bits)
    try:
        yield faults
    finally:
        faults.remove()
