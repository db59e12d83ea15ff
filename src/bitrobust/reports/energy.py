"""Energy savings from low-voltage operation: bit error rate <-> supply voltage <-> SRAM access energy.

Lowering the SRAM supply voltage below V_min (the lowest voltage without bit errors)
saves access energy but makes the bit error rate p grow exponentially (paper 3, Sec. 1,
Fig. 1, App. A). An :class:`EnergyModel` is a small table of operating points
(voltage, p, energy), normalized by the error-free row at V_min and interpolated
log-linearly in p, so log p is piecewise linear in the voltage. :func:`energy_savings`
finds, for each evaluated model, the highest evaluated p whose RErr stays within a
reference Err plus an allowed increase, and the lowest energy that p permits.

The default model is built only from statements in paper 3 (see ``docs/energy.md``):
V_min is the error-free point with energy 1 (Fig. 1, App. A); dynamic energy per access
~ V^2 at a constant clock (Sec. 1, App. A); p = 1% allows ~30% lower SRAM energy
(Sec. 1, Fig. 1; 30% at p = 1% in the contributions); and "+1% Err vs a normally
trained 8-bit DNN gives ~20%" (abstract, contributions), which Tab. 18 places at
p = 0.1%. Supply your own CSV for a real memory.

A memory protected by SECDED ECC (DESIGN contract 6, :mod:`bitrobust.bit_errors.ecc`) stores
n bits for every k data bits, so each access costs n/k times the energy of the unprotected
memory at the same voltage: a run evaluated with ECC (``protection: {ecc: secded64}`` in its
robustness.json) costs E(p) * 72/64 (savings may then be negative near V_min). ``EnergySettings(ecc=...)``
overrides what the results say: a code name charges that code for every run, ``"none"`` charges no ECC.

Number formats (DESIGN contract 5) store different numbers of bits per weight: b = (D + M) / W for W weights
held in D data bits (W words of m bits) and M metadata bits (per-channel/group fp16 ranges, memory layout v2).
Reading them costs, relative to paper 3's 8-bit words without metadata at V_min,
E(p) * (D n/k + M) / (8 W) (ECC check bits cover the data region only, contract 6): int4_g128 stores
b = 4 + 2 * 16 / 128 = 4.25 bits (factor 0.531), bf16 16 bits (factor 2). ``EnergySettings(storage=...)``:
``auto`` (default) charges this for runs evaluated in a number format (``format`` in robustness.json) and keeps
paper 3's per-access accounting (E(p) n/k, whatever m) for contract 1's per-tensor fixed point; ``bits``
charges it for every run (an m-bit per-tensor run: m / 8); ``access`` for none.

Reliable bits -- protected bit positions or tensors, bits outside a target, and metadata words unless exposed
(contract 6) -- sit in memory that stays error-free, at V_min: they cost the energy of V_min, 1 per bit, whatever
the voltage of the rest. With a fraction f = R / S of the S stored bits reliable (S = D n/k + M; ECC check bits
flip, so they are never reliable), the energy is factor * ((1 - f) E(p) + f), where factor is n/k per access or
S / (8 W) per stored bit. An MSB-protected 8-bit memory (f = 1/8) at p = 1 % thus saves 7/8 of the unprotected
memory's savings.
"""

from __future__ import annotations

import bisect
import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from bitrobust.bit_errors.ecc import secded_code
from bitrobust.bit_errors.protection import ProtectedMemory, protection_from
from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.evaluation.run import load_run as load_checkpoint_run
from bitrobust.formats import get_format
from bitrobust.io import write_json, write_text
from bitrobust.metrics.bounds import DEFAULT_DELTA, bound_applies, rerr_upper_bound
from bitrobust.quantization import quantize_model
from bitrobust.reports.plotting import pyplot, save_figure
from bitrobust.reports.runs import Run
from bitrobust.reports.text import csv_text, markdown_table, pct

COLUMNS = ("voltage", "bit_error_rate", "energy")
CRITERIA = ("mean", "bound")
STORAGE_MODES = ("auto", "bits", "access")
NO_ECC = "none"  # EnergySettings.ecc: charge no ECC, whatever the results say
REFERENCE_BITS = 8  # paper 3's words: 8 bits per weight, per-tensor ranges outside the memory


@dataclass(frozen=True)
class OperatingPoint:
    """One row of the energy model: supply voltage, bit error rate p (fraction), energy per access."""

    voltage: float
    bit_error_rate: float
    energy: float


# (voltage / V_min, p, energy / energy at V_min); voltage = sqrt(energy) from E ~ V^2.
DEFAULT_POINTS = (
    OperatingPoint(1.0, 0.0, 1.0),  # V_min: no bit errors, normalization point (Fig. 1, App. A)
    OperatingPoint(math.sqrt(0.8), 0.001, 0.8),  # ~20% savings at +1% Err (abstract); Tab. 18: p = 0.1%
    OperatingPoint(math.sqrt(0.7), 0.01, 0.7),  # p = 1% -> ~30% lower SRAM energy (Sec. 1, Fig. 1)
)
DEFAULT_SOURCE = "default (paper 3: E ~ V^2; p=0 at V_min; ~20% at p=0.1%; ~30% at p=1%)"


def _segment_fraction(p: float, lo: float, hi: float) -> float:
    """Position of p in [lo, hi]: linear in log p, or linear in p on the segment starting at p = 0."""
    if lo == 0.0:
        return p / hi
    return math.log(p / lo) / math.log(hi / lo)


def _segment_rate(t: float, lo: float, hi: float) -> float:
    """Inverse of :func:`_segment_fraction`: p = lo (hi / lo)^t (or t hi from p = 0)."""
    if lo == 0.0:
        return t * hi
    return lo * (hi / lo) ** t


@dataclass(frozen=True)
class EnergyModel:
    """Operating points of one memory, normalized to its error-free row (V_min, energy 1).

    Rows are sorted by p. Between two rows with p > 0, voltage and energy are linear in
    log p (p exponential in the voltage); between the error-free row and the first
    faulty row they are linear in p. Outside [0, largest p] nothing is extrapolated.
    """

    points: tuple[OperatingPoint, ...]
    source: str = "custom"

    def __post_init__(self) -> None:
        pts = tuple(sorted(self.points, key=lambda pt: pt.bit_error_rate))
        where = f"energy model ({self.source})"
        if len(pts) < 2:
            raise BitrobustError(f"{where}: needs at least 2 operating points (V_min with p = 0 and one with p > 0)")
        for pt in pts:
            for label, v in (("voltage", pt.voltage), ("energy", pt.energy)):
                if not (math.isfinite(v) and v > 0):
                    raise BitrobustError(f"{where}: {label} must be a positive number, got {v}")
            if not (math.isfinite(pt.bit_error_rate) and 0.0 <= pt.bit_error_rate <= 1.0):
                raise BitrobustError(f"{where}: bit_error_rate must be in [0, 1], got {pt.bit_error_rate}")
        zero = [pt for pt in pts if pt.bit_error_rate == 0.0]
        if len(zero) != 1:
            raise BitrobustError(
                f"{where}: needs exactly one row with bit_error_rate 0 (the error-free point V_min), found {len(zero)}"
            )
        for a, b in zip(pts, pts[1:]):
            if not (b.bit_error_rate > a.bit_error_rate and b.voltage < a.voltage and b.energy < a.energy):
                raise BitrobustError(
                    f"{where}: not monotone: as bit_error_rate increases, voltage and energy must strictly "
                    f"decrease (rows p={a.bit_error_rate:g} and p={b.bit_error_rate:g})"
                )
        v0, e0 = pts[0].voltage, pts[0].energy  # normalize by V_min and the energy at V_min
        object.__setattr__(
            self, "points", tuple(OperatingPoint(pt.voltage / v0, pt.bit_error_rate, pt.energy / e0) for pt in pts)
        )

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def default(cls) -> "EnergyModel":
        """The model built from paper 3's statements (see module docstring and docs/energy.md)."""
        return cls(DEFAULT_POINTS, DEFAULT_SOURCE)

    @classmethod
    def from_csv(cls, path: str | Path) -> "EnergyModel":
        """Read ``voltage,bit_error_rate,energy`` rows (header required; '#' lines are comments).

        bit_error_rate is a fraction (0.01) or a percentage (1%); voltage and energy in any
        positive unit (they are normalized by the row with bit_error_rate 0). Other
        columns are ignored.
        """
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise BitrobustError(f"energy model CSV not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BitrobustError(f"cannot read energy model CSV {path}: {exc}") from None
        numbered = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
        if not numbered:
            raise BitrobustError(f"energy model CSV {path} is empty (need a header {','.join(COLUMNS)})")
        rows = list(csv.reader(line for _, line in numbered))
        header = [h.strip().lower() for h in rows[0]]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise BitrobustError(
                f"energy model CSV {path}: missing column(s) {', '.join(missing)} (header needs {','.join(COLUMNS)})"
            )
        index = {c: header.index(c) for c in COLUMNS}
        points = []
        for (lineno, _), row in zip(numbered[1:], rows[1:]):
            if len(row) < len(header):
                raise BitrobustError(f"energy model CSV {path} line {lineno}: expected {len(header)} values, got {len(row)}")
            values = {}
            for c in COLUMNS:
                cell = row[index[c]].strip()
                try:
                    values[c] = float(cell[:-1]) / 100 if c == "bit_error_rate" and cell.endswith("%") else float(cell)
                except ValueError:
                    raise BitrobustError(f"energy model CSV {path} line {lineno}: invalid {c} {cell!r}") from None
            points.append(OperatingPoint(values["voltage"], values["bit_error_rate"], values["energy"]))
        return cls(tuple(points), str(path))

    def to_csv(self) -> str:
        """The (normalized) table as CSV, with the source as a comment; from_csv reads it back."""
        lines = [f"# energy model: {self.source}", "# normalized by the error-free row (V_min, energy 1)", ",".join(COLUMNS)]
        lines += [f"{pt.voltage:.6g},{pt.bit_error_rate:g},{pt.energy:.6g}" for pt in self.points]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"source": self.source, "points": [asdict(pt) for pt in self.points]}

    # -- mappings ----------------------------------------------------------------------------
    @property
    def max_rate(self) -> float:
        return self.points[-1].bit_error_rate

    def _at_rate(self, p: float) -> OperatingPoint:
        p = float(p)
        if not (0.0 <= p <= self.max_rate):
            raise BitrobustError(f"bit error rate {p:g} outside the energy model's range [0, {self.max_rate:g}]")
        rates = [pt.bit_error_rate for pt in self.points]
        i = min(max(bisect.bisect_right(rates, p) - 1, 0), len(rates) - 2)
        a, b = self.points[i], self.points[i + 1]
        t = _segment_fraction(p, a.bit_error_rate, b.bit_error_rate)
        return OperatingPoint(a.voltage + t * (b.voltage - a.voltage), p, a.energy + t * (b.energy - a.energy))

    def voltage_at(self, p: float) -> float:
        """Normalized voltage V / V_min at which the memory shows bit error rate p."""
        return self._at_rate(p).voltage

    def energy_at(self, p: float) -> float:
        """Normalized energy per access at the voltage with bit error rate p."""
        return self._at_rate(p).energy

    def _rate_where(self, attr: str, value: float) -> float:
        lo, hi = getattr(self.points[-1], attr), getattr(self.points[0], attr)
        value = float(value)
        if not (lo <= value <= hi):
            raise BitrobustError(f"normalized {attr} {value:g} outside the energy model's range [{lo:g}, {hi:g}]")
        for a, b in zip(self.points, self.points[1:]):
            va, vb = getattr(a, attr), getattr(b, attr)
            if vb <= value <= va:
                t = (va - value) / (va - vb)
                return _segment_rate(t, a.bit_error_rate, b.bit_error_rate)
        raise AssertionError("unreachable")  # pragma: no cover

    def rate_at_voltage(self, voltage: float) -> float:
        """Bit error rate p at normalized voltage V / V_min (inverse of :meth:`voltage_at`)."""
        return self._rate_where("voltage", voltage)

    def rate_at_energy(self, energy: float) -> float:
        """Bit error rate p at normalized energy (inverse of :meth:`energy_at`)."""
        return self._rate_where("energy", energy)

    def operating_point(self, tolerated_rate: float) -> tuple[OperatingPoint, bool]:
        """Lowest-energy point whose p does not exceed ``tolerated_rate``; True if capped at the table's end.

        A model that tolerates more than the table's largest p is credited only with the
        table's last row (no extrapolation), flagged by the second value.
        """
        clamped = tolerated_rate > self.max_rate
        return self._at_rate(min(tolerated_rate, self.max_rate)), clamped


# -- what a model stores -------------------------------------------------------------------


@dataclass(frozen=True)
class Storage:
    """The bits a model occupies: ``weights`` words holding ``data_bits`` bits in all, plus ``metadata_bits``, of
    which ``reliable_bits`` always read error-free (at V_min; module docstring).

    >>> s = Storage(weights=256, data_bits=4 * 256, metadata_bits=2 * 2 * 16, reliable_bits=64)  # int4_g128
    >>> s.bits_per_weight, s.factor(), s.factor(72 / 64), s.reliable_fraction()
    (4.25, 0.53125, 0.59375, 0.058823529411764705)
    """

    weights: int
    data_bits: int
    metadata_bits: int = 0
    reliable_bits: int = 0

    def __post_init__(self) -> None:
        if self.weights < 1:
            raise BitrobustError("a model without stored weights has no storage cost")

    @property
    def bits_per_weight(self) -> float:
        """b = (D + M) / W."""
        return (self.data_bits + self.metadata_bits) / self.weights

    def stored_bits(self, overhead: float = 1.0) -> float:
        """S = D n/k + M: ECC check bits on the data, none on the metadata."""
        return self.data_bits * overhead + self.metadata_bits

    def factor(self, overhead: float = 1.0) -> float:
        """S / (8 W): the stored bits relative to 8-bit words without metadata."""
        return self.stored_bits(overhead) / (REFERENCE_BITS * self.weights)

    def reliable_fraction(self, overhead: float = 1.0) -> float:
        """f = R / S: the share of the stored bits in reliable memory."""
        return self.reliable_bits / self.stored_bits(overhead)

    @classmethod
    def of(cls, state, protection=None) -> "Storage":
        """The data, metadata and reliable bits of a :class:`~bitrobust.quantization.QuantizedState` (layout v2
        segments) behind a :class:`~bitrobust.bit_errors.protection.Protection` (default: metadata reliable).

        >>> import torch
        >>> from bitrobust.formats import get_format
        >>> from bitrobust.quantization import quantize_tensors
        >>> Storage.of(quantize_tensors({"w": torch.zeros(3, 130)}, get_format("int4_g128")))  # 2 groups a row
        Storage(weights=390, data_bits=1560, metadata_bits=192, reliable_bits=192)
        """
        bits = {"data": 0, "metadata": 0}
        for seg in state.segments:
            bits[seg.region] = bits.get(seg.region, 0) + seg.num_words * seg.bits
        reliable = ProtectedMemory(state, protection).reliable_bits
        return cls(state.num_words, bits["data"], bits["metadata"], reliable)


def _checkpoint_dir(path: Path) -> Path:
    """The run directory of a result: ``path`` itself, or the run above ``<run>/evals/<evaluation>/``."""
    if not (path / "model.json").is_file() and path.parent.name == "evals":
        return path.parent.parent
    return path


def run_storage(run: Run) -> Storage:
    """What ``run``'s evaluated weights store, per weight: contract 1's m bits (ranges in registers) or a format's
    word width when it has no metadata and no bits were protected or targeted, else counted on the run's model
    (its checkpoint) in that format, behind the protection it was evaluated with."""
    fmt = None if run.result.format is None else get_format(run.result.format)
    protection = protection_from({k: v for k, v in run.result.protection.items() if k not in ("ecc", "ecc_policy")})
    has_metadata = fmt is not None and fmt.quantize(torch.zeros(2, 2)).metadata.numel() > 0
    if not has_metadata and protection.is_default:
        return Storage(1, run.bits if fmt is None else fmt.bits)
    folder = _checkpoint_dir(run.path)
    if not (folder / "model.json").is_file():
        what = f"the metadata words of format {run.result.format}" if has_metadata else "the protected bits"
        raise BitrobustError(f"{run.path}: counting {what} needs the run's checkpoint (model.json, "
                             "model.safetensors) beside robustness.json")
    loaded = load_checkpoint_run(folder, "cpu")
    quantizer, exclude = loaded.quantizer(bits=None if fmt else run.bits, format=run.result.format)
    return Storage.of(quantize_model(loaded.model, quantizer, exclude), protection)


# -- which rate does a model tolerate? ------------------------------------------------------


@dataclass(frozen=True)
class EnergySettings:
    """How much RErr may exceed the reference Err, whether RErr means or Prop. 1 bounds count, and the ECC charged.

    ``ecc``: None charges each run the ECC code its result was evaluated with (``protection.ecc``), a code name
    (secded8 .. secded64) charges that code to every run, ``"none"`` charges no ECC.

    >>> EnergySettings(ecc="secded64").storage_overhead  # (72, 64): 72 stored bits per 64 data bits
    1.125
    """

    max_increase: float = 0.01  # fraction: 0.01 = one percentage point of error
    criterion: str = "mean"  # mean: RErr mean over chips; bound: its Prop. 1 upper bound
    delta: float = DEFAULT_DELTA
    ecc: str | None = None  # override of the results' ECC code (NO_ECC: none), whose storage overhead n/k is charged
    storage: str = "auto"  # which runs are charged their stored bits per weight (STORAGE_MODES, module docstring)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_increase) and 0.0 <= self.max_increase <= 1.0):
            raise BitrobustError(f"max increase must be in [0, 1] (e.g. 0.01 or 1%), got {self.max_increase}")
        if self.criterion not in CRITERIA:
            raise BitrobustError(f"unknown criterion {self.criterion!r}; valid: {', '.join(CRITERIA)}")
        if self.ecc not in (None, NO_ECC):
            secded_code(self.ecc)  # an unknown name lists the valid ones
        if self.storage not in STORAGE_MODES:
            raise BitrobustError(f"unknown storage accounting {self.storage!r}; valid: {', '.join(STORAGE_MODES)}")

    def charges_bits(self, run: Run) -> bool:
        """Whether ``run`` is charged its stored bits per weight (else paper 3's energy per access)."""
        return self.storage == "bits" or (self.storage == "auto" and run.result.format is not None)

    @property
    def storage_overhead(self) -> float:
        """n / k of the overriding ECC code (stored bits per data bit), else 1: the factor on every access energy."""
        return 1.0 if self.ecc in (None, NO_ECC) else secded_code(self.ecc).overhead

    def ecc_of(self, run: Run) -> str | None:
        """The ECC code charged to ``run``: the override, else the code its result was evaluated with.

        >>> from pathlib import Path
        >>> result = RobustnessResult(0.1, 0.9, 100, "random", 1, 8, {}, protection={"ecc": "secded64"})
        >>> run = Run("r", Path("r"), result)
        >>> EnergySettings().ecc_of(run), EnergySettings(ecc="secded8").ecc_of(run), EnergySettings(ecc="none").ecc_of(run)
        ('secded64', 'secded8', None)
        """
        if self.ecc == NO_ECC:
            return None
        return self.ecc or run.result.protection.get("ecc")


@dataclass(frozen=True)
class EnergyResult:
    """Operating point of one model. ``p`` is None when even the clean Err misses the limit."""

    name: str
    run: str
    bits: int
    err: float
    reference_err: float
    limit: float
    p: float | None
    rerr: float | None
    voltage: float | None
    energy: float | None
    clamped: bool
    bits_per_weight: float | None = None  # stored bits per weight when charged (None: energy per access)
    ecc: str | None = None  # the ECC code whose n/k is charged
    reliable_fraction: float = 0.0  # f: the share of the stored bits in reliable memory, charged at V_min

    @property
    def savings(self) -> float | None:
        return None if self.energy is None else 1.0 - self.energy


_TOL = 1e-12  # float slack in RErr <= limit


def tolerated_rate(run: Run, limit: float, settings: EnergySettings = EnergySettings()) -> tuple[float | None, float | None]:
    """(p, RErr at p): the highest evaluated p with RErr(p') <= limit at every evaluated p' <= p.

    p' = 0 is the clean Err. Requiring all lower rates too keeps operation safe when the
    voltage rises again (Sec. 5.4: RErr should increase monotonically). Returns
    (None, None) if the clean Err already exceeds the limit.
    """
    res = run.result
    if res.source == "linf":
        raise BitrobustError(f"{run.path}: L-inf noise results (eval --errors linf) have no bit error rate to map to energy")
    if res.err > limit + _TOL:
        return None, None
    if settings.criterion == "bound" and not bound_applies(res.source):
        raise BitrobustError(f"{run.path}: the Prop. 1 bound does not apply to {res.source!r} errors; use --criterion mean")
    best: tuple[float, float] = (0.0, res.err)
    for r in sorted((r for r in res.rates if r.p > 0), key=lambda r: r.p):
        value = r.mean if settings.criterion == "mean" else rerr_upper_bound(r.mean, res.n_examples, res.trials, settings.delta)
        if value > limit + _TOL:
            break
        best = (r.p, value)
    return best


def energy_savings(
    runs: Sequence[Run], model: EnergyModel, settings: EnergySettings = EnergySettings(), reference: Run | None = None,
    storage: Callable[[Run], Storage] = run_storage,
) -> list[EnergyResult]:
    """Per run: limit = reference Err (``reference``'s, else the run's own) + max_increase; tolerated p; energy
    factor ((1 - f) E(p) + f) with factor n/k, or (D n/k + M) / (8 W) for runs charged their stored bits, and f the
    reliable share of the stored bits (``storage(run)``; see the module docstring)."""
    out = []
    for run in runs:
        ecc = settings.ecc_of(run)
        overhead = 1.0 if ecc is None else secded_code(ecc).overhead
        stored = storage(run)
        reliable = stored.reliable_fraction(overhead)
        factor, per_weight = overhead, None  # E(p) * n/k: every access reads n bits per k data bits
        if settings.charges_bits(run):
            factor, per_weight = stored.factor(overhead), stored.bits_per_weight
        ref_err = reference.result.err if reference is not None else run.result.err
        limit = ref_err + settings.max_increase
        p, value = tolerated_rate(run, limit, settings)
        if p is None:
            out.append(EnergyResult(run.name, str(run.path), run.bits, run.result.err, ref_err, limit, None, None, None,
                                    None, False, per_weight, ecc, reliable))
            continue
        point, clamped = model.operating_point(p)
        energy = factor * ((1 - reliable) * point.energy + reliable)  # reliable bits stay at V_min (energy 1)
        out.append(EnergyResult(run.name, str(run.path), run.bits, run.result.err, ref_err, limit, p, value,
                                point.voltage, energy, clamped, per_weight, ecc, reliable))
    return out


# -- output ---------------------------------------------------------------------------------


def energy_markdown(results: Sequence[EnergyResult], model: EnergyModel, settings: EnergySettings,
                    reference: str | None = None) -> str:
    """energy.md: one row per model with its tolerated p, voltage, energy and savings."""
    what = "RErr (mean over chips)" if settings.criterion == "mean" else (
        f"the Prop. 1 upper bound on RErr ({100 * (1 - settings.delta):g}% confidence)")
    ref = f"the Err of {reference}" if reference else "each model's own clean Err"
    lines = [
        "# Energy savings from low-voltage operation",
        "",
        f"Highest evaluated bit error rate p at which {what} stays within {ref} + {100 * settings.max_increase:g} "
        "percentage points (at every evaluated rate up to p), and the normalized supply voltage and SRAM "
        f"access energy at that p. Energy model: {model.source}.",
        "",
    ]
    charged = any(r.bits_per_weight is not None for r in results)  # a bits-per-weight column only then
    per_row = settings.ecc is None and any(r.ecc is not None for r in results)  # ECC read from the results
    reliable = any(r.reliable_fraction > 0 for r in results)  # a reliable-bits column only then
    body = []
    for r in results:
        if r.p is None:
            tail = ["-", "-", "-", "-", "- (Err above the limit)"]
        else:
            le, ge = ("≤ ", "≥ ") if r.clamped else ("", "")
            tail = [f"{100 * r.p:g}", pct(r.rerr), f"{le}{r.voltage:.3f}", f"{le}{r.energy:.3f}", f"{ge}{pct(r.savings)}"]
        stored = [] if not charged else ["-" if r.bits_per_weight is None else f"{r.bits_per_weight:.4g}"]
        ecc = [] if not per_row else ["-" if r.ecc is None else _code_text(r.ecc)]
        safe = [] if not reliable else [pct(r.reliable_fraction)]
        body.append([r.name, str(r.bits)] + stored + ecc + safe + [pct(r.err), pct(r.limit)] + tail)
    lines += markdown_table(["Model", "m"] + (["bits per weight"] if charged else []) + (["ECC"] if per_row else []) + (
        ["reliable bits in %"] if reliable else []) + [
        "Err in %", "RErr limit in %", "highest p in %", "RErr at p in %", "V / V_min", "energy", "energy saved in %"],
        body)
    lines.append("")
    if reliable:
        lines += [
            "Reliable bits: the share f of the stored bits that always read error-free (protected bits and tensors, "
            "bits outside a target, metadata words unless exposed; contract 6), kept at V_min: energy factor x "
            "((1 - f) E(p) + f) (docs/energy.md, \"Reliable bits\").",
            "",
        ]
    if per_row:
        lines += [
            "ECC: the SECDED code the run was evaluated with (its robustness.json); those rows' energy includes its "
            "storage overhead n/k (on the data bits), so their savings are relative to the unprotected memory at "
            "V_min.",
            "",
        ]
    if charged:
        lines += [
            "Bits per weight b = (D + M) / W: data bits D and metadata bits M (per-channel/group fp16 ranges, memory "
            "layout v2) of W weights. Those rows' energy is the energy per stored bit times (D n/k + M) / (8 W): "
            "relative to 8-bit words without metadata at V_min (paper 3's models); rows without b are charged per "
            "access (docs/energy.md, \"Number formats\").",
            "",
        ]
    if any(r.clamped for r in results):
        lines += [
            f"≤ / ≥: the model tolerates more than the energy model's largest rate p = {100 * model.max_rate:g}%; "
            "it is credited with that row only (no extrapolation).",
            "",
        ]
    if settings.ecc not in (None, NO_ECC):
        code = secded_code(settings.ecc)
        lines += [
            f"Energy includes the storage overhead of SECDED ECC {code.name} ({code.n}, {code.k}): the energy "
            f"model's value times n/k = {code.n}/{code.k} = {code.overhead:g}, so savings are relative to the "
            "unprotected memory at V_min.",
            "",
        ]
    lines += [
        "Only evaluated rates count: the true tolerable p lies between the reported p and the next evaluated rate.",
        "",
    ]
    return "\n".join(lines)


def _code_text(name: str) -> str:
    """A code as ``"secded64 (72, 64)"``.

    >>> _code_text("secded16")
    'secded16 (22, 16)'
    """
    code = secded_code(name)
    return f"{code.name} ({code.n}, {code.k})"


def energy_json(results: Sequence[EnergyResult], model: EnergyModel, settings: EnergySettings,
                reference: str | None = None) -> dict:
    return {
        "settings": {"max_increase": settings.max_increase, "criterion": settings.criterion, "delta": settings.delta,
                     "ecc": settings.ecc, "storage_overhead": settings.storage_overhead, "storage": settings.storage},
        "reference": reference,
        "energy_model": model.to_dict(),
        "models": [dict(asdict(r), savings=r.savings) for r in results],
    }


def plot_energy(model: EnergyModel, results: Sequence[EnergyResult], path: str | Path,
                assumptions: Sequence[str] = ()) -> None:
    """Fig. 1 layout: p (log, left) and energy (right) against V / V_min, models' operating points marked;
    ``assumptions`` are written in a box on the plot.

    The stretch between V_min and the first faulty row is dashed: there the model is
    linear in p (an assumption, since log p is undefined at p = 0).
    """
    from matplotlib.ticker import FuncFormatter

    pts = model.points
    fig, ax = pyplot().subplots(figsize=(7.6, 6.3 if assumptions else 5.2), dpi=130)
    for a, b in zip(pts, pts[1:]):
        grid = [b.voltage + (a.voltage - b.voltage) * i / 200 for i in range(201)]
        curve = [(v, model.rate_at_voltage(v)) for v in grid]
        curve = [(v, q) for v, q in curve if q > 0]
        ax.plot([v for v, _ in curve], [100 * q for _, q in curve], color="tab:blue", lw=2,
                ls="--" if a.bit_error_rate == 0 else "-",
                label=None if a.bit_error_rate == 0 else "_p")
    ax.plot([pt.voltage for pt in pts if pt.bit_error_rate > 0], [100 * pt.bit_error_rate for pt in pts if pt.bit_error_rate > 0],
            "o", color="tab:blue", ms=5, label="bit error rate p (rows; dashed: linear in p from V_min)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_xlabel("supply voltage V / V_min")
    ax.set_ylabel("bit error rate p in % (log scale)", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot([pt.voltage for pt in pts], [pt.energy for pt in pts], "s-", color="tab:red", lw=2, ms=4,
             label="SRAM access energy / energy at V_min")
    ax2.set_ylabel("normalized SRAM access energy", color="tab:red")
    groups: dict[tuple[float, bool], list[EnergyResult]] = {}
    for r in results:
        if r.p is not None and r.p > 0:
            groups.setdefault((r.p, r.clamped), []).append(r)
    colors = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
    for i, ((p, clamped), rs) in enumerate(sorted(groups.items())):
        r = rs[0]
        ax.plot(r.voltage, 100 * min(p, model.max_rate), "*", ms=14, mec="black", color=colors[i % len(colors)], zorder=5,
                label=f"{', '.join(x.name for x in rs)}: p={100 * p:g}%, {'≥ ' if clamped else ''}{100 * r.savings:.1f}% saved")
    handles, labels = [], []
    for a in (ax, ax2):
        h, lab = a.get_legend_handles_labels()
        handles += [x for x, y in zip(h, lab) if not y.startswith("_")]
        labels += [y for y in lab if not y.startswith("_")]
    ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    if assumptions:
        ax.text(0.0, -0.27, "Assumptions:\n" + "\n".join(f"- {a}" for a in assumptions), transform=ax.transAxes,
                fontsize=7, va="top", ha="left",
                bbox={"boxstyle": "round", "facecolor": "#f7f7f7", "edgecolor": "0.7"})
    ax.set_title(f"Energy model: bit error rate and energy vs supply voltage\n({model.source})", fontsize=9)
    save_figure(fig, path)


def write_energy(results: Sequence[EnergyResult], model: EnergyModel, settings: EnergySettings, out_dir: str | Path,
                 reference: str | None = None) -> list[Path]:
    """energy.md, energy.json and energy.png in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "energy.md", out / "energy.json", out / "energy.png"]
    write_text(paths[0], energy_markdown(results, model, settings, reference))
    write_json(paths[1], energy_json(results, model, settings, reference))
    plot_energy(model, results, paths[2])
    return paths


# -- paper 3, Fig. 1: the energy model alone (a model-free section of ``bitrobust reproduce``) -------------------

FIG1_ASSUMPTIONS = (
    "V_min: lowest voltage without bit errors; energy per access = 1 there (Fig. 1, App. A)",
    "dynamic energy per access ~ V^2 at a constant clock (App. A)",
    "p = 0.1% at ~20% less energy (abstract: +1% Err; Tab. 18 puts it at p = 0.1%)",
    "p = 1% at ~30% less energy (Sec. 1, Fig. 1)",
    "between rows log p is linear in V; from V_min to the first row p is linear in V",
    "not the paper's measured curve (32 14nm SRAM arrays, not public)",
)


def energy_curve(model: EnergyModel, points: int = 61) -> list[dict]:
    """``points`` operating points evenly spaced in voltage from V_min down to the model's last row.

    >>> curve = energy_curve(EnergyModel.default(), 3)
    >>> [(round(c["voltage"], 3), round(c["bit_error_rate"], 5), round(c["energy"], 3)) for c in curve]
    [(1.0, 0.0, 1.0), (0.918, 0.00077, 0.845), (0.837, 0.01, 0.7)]
    """
    lo, hi = model.points[-1].voltage, model.points[0].voltage
    out = []
    for i in range(points):
        v = hi - (hi - lo) * i / (points - 1)
        p = model.rate_at_voltage(min(max(v, lo), hi))
        out.append({"voltage": v, "bit_error_rate": p, "energy": model.energy_at(p)})
    return out


def write_energy_model(data: dict, out: Path, title: str) -> list[str]:
    """energy_model.md, .csv (the curve), .json and .png (Fig. 1 with the assumptions on it) in ``out`` from
    ``data`` (``energy_model``: :meth:`EnergyModel.to_dict`, ``curve``, ``assumptions``); the lines of report.md."""
    model = EnergyModel(tuple(OperatingPoint(**pt) for pt in data["energy_model"]["points"]), data["energy_model"]["source"])
    out.mkdir(parents=True, exist_ok=True)
    rows = [[f"{pt.voltage:.3f}", f"{100 * pt.bit_error_rate:g}", f"{pt.energy:.3f}", pct(1 - pt.energy, 1)]
            for pt in model.points]
    table = markdown_table(["V / V_min", "p in %", "energy / energy at V_min", "energy saved in %"], rows)
    text = ["Operating points of the energy model (the rows it interpolates between); source: " + model.source, ""]
    text += table + ["", "Assumptions:", ""] + [f"- {a}" for a in data["assumptions"]]
    write_text(out / "energy_model.md", "\n".join([f"# {title}", ""] + text) + "\n")
    write_text(out / "energy_model.csv", csv_text([list(COLUMNS)] + [[c[k] for k in COLUMNS] for c in data["curve"]]))
    write_json(out / "energy_model.json", data)
    plot_energy(model, [], out / "energy_model.png", data["assumptions"])
    return text + ["", f"Files: `{out.name}/energy_model.csv` (the plotted curve), `energy_model.json`.", "",
                   f"![energy model]({out.name}/energy_model.png)", ""]


def energy_model_section(section, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """The ``energy_model`` report section (paper 3, Fig. 1): the default energy model, or the CSV named by
    ``section.params["energy_model"]``; returns (lines of report.md, results part)."""
    path = section.params.get("energy_model")
    model = EnergyModel.from_csv(path) if path else EnergyModel.default()
    data = {"energy_model": model.to_dict(), "curve": energy_curve(model),
            "assumptions": list(section.params.get("assumptions", FIG1_ASSUMPTIONS))}
    return write_energy_model(data, out, f"{reproduces}: {section.title}"), data


# -- the ``energy`` section of an experiment report: lowest energy within an error budget per run ---------------


def energy_section(section, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """Per entry (a run's robustness result and :class:`Storage`): the highest p within the budget
    (``params["max_increase"]`` over the clean Err of the entry whose run key is ``params["reference"]``, else
    each run's own) and its energy with stored bits charged (``storage="bits"``), written as energy.md/.json/.png
    in ``out``; returns (lines of report.md, results part)."""
    params = section.params
    runs = [Run(e.label, e.run_dir, RobustnessResult.from_dict(e.evaluations[0].result)) for e in section.entries]
    stored = {e.label: e.storage for e in section.entries}
    ref_key = params.get("reference")
    reference = next((r for r, e in zip(runs, section.entries) if e.key == ref_key), None)
    settings = EnergySettings(float(params.get("max_increase", 0.01)), storage="bits")
    model = EnergyModel.default()
    results = energy_savings(runs, model, settings, reference, lambda run: stored[run.name] or run_storage(run))
    ref_name = None if reference is None else f"{reference.name} (Err {pct(reference.result.err)}%)"
    write_energy(results, model, settings, out, ref_name)
    columns = ("name", "bits", "bits_per_weight", "err", "limit", "p", "rerr", "voltage", "energy", "savings")
    rows = [[dict(asdict(r), savings=r.savings)[c] for c in columns] for r in results]
    write_text(out / "energy.csv", csv_text([list(columns)] + rows))
    text = energy_markdown(results, model, settings, ref_name).split("\n")[2:]  # without the title
    data = energy_json(results, model, settings, ref_name)
    return text + [f"Files: `{out.name}/energy.csv`, `energy.md`, `energy.json`.", "",
                   f"![energy]({out.name}/energy.png)", ""], data
