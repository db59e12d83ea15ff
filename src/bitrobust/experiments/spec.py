"""Declarative experiment definitions: which runs to train, how to evaluate them, what to report.

An :class:`Experiment` reproduces one table or figure of the papers. It names the
training runs it needs (:class:`RunSpec`: a shipped YAML recipe (``bitrobust/recipes/``) plus
``key=value`` overrides per budget), the evaluations (:class:`EvalSpec`: random chips,
transient reads, a fixed pattern, synthetic profiled chips, L-inf noise, BNN metrics or
weight statistics) and the report sections (:class:`Section`: which (run, evaluation)
pairs form a table and figure). Budgets: ``quick`` (the ``*.quick.yaml`` recipes,
MNIST/Fashion-MNIST on a CPU), ``full`` (the papers' settings, ``*.full.yaml``, a
GPU) and, for the few runs that opt in, ``medium`` (``*.medium.yaml``: the paper's own
model and dataset at a reduced schedule, hours on a CPU). Values that differ per budget
are given as ``{"quick": ..., "full": ...}``; a budget missing from such a mapping gets None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bitrobust.errors import BitrobustError
from bitrobust.evaluation import EVAL_KINDS

BUDGETS = ("quick", "medium", "full")
DEFAULT_BUDGETS = ("quick", "full")  # runs opt into "medium" (RunSpec.budgets)

SECTION_KINDS = ("rerr", "profiled", "bnn_curves", "bnn_importance", "bnn_table", "bnn_native_vs_st", "weights",
                 "energy_model", "chip_maps", "weight_errors", "logits", "clean_err", "energy", "vulnerability")
# Sections drawn from a model of the memory alone (paper 3, Fig. 1, 3, 8): no runs, no evaluation; ``params``
# go to their writer. An experiment of only such sections trains nothing.
MODEL_FREE_KINDS = ("energy_model", "chip_maps")


def for_budget(value: Any, budget: str) -> Any:
    """``value[budget]`` for a per-budget mapping ``{"quick": ..., "full": ...}``, else ``value``."""
    if isinstance(value, Mapping) and set(value) <= set(BUDGETS) and value:
        return value.get(budget)
    return value


@dataclass(frozen=True)
class RunSpec:
    """One trained model: ``recipe`` (relative to the recipe directory; ``{budget}`` becomes quick/full).

    ``overrides`` apply in every budget, ``quick``/``medium``/``full`` only in that budget (later
    ones win); ``budgets`` lists the budgets the run belongs to. ``repeats`` trains seeds 0..n-1 (``seed=i``), e.g. Table III's ten
    repetitions. ``tags`` carry table coordinates (e.g. width and training BER).
    """

    key: str
    recipe: str
    label: str
    overrides: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    medium: tuple[str, ...] = ()
    full: tuple[str, ...] = ()
    repeats: Any = 1  # int or {"quick": n, "full": n}
    tags: Mapping[str, Any] = field(default_factory=dict)
    budgets: tuple[str, ...] = DEFAULT_BUDGETS  # e.g. ("full",) for a model too large for a CPU

    def recipe_path(self, budget: str) -> str:
        return self.recipe.replace("{budget}", budget)

    def budget_overrides(self, budget: str) -> tuple[str, ...]:
        return tuple(self.overrides) + tuple(getattr(self, budget))

    def n_repeats(self, budget: str) -> int:
        return int(for_budget(self.repeats, budget) or 1)


@dataclass(frozen=True)
class EvalSpec:
    """How runs are evaluated: ``kind`` names an evaluation kind of
    :data:`bitrobust.evaluation.EVAL_KINDS` (random, transient, profiled, linf, vulnerability, weights,
    weight_errors (Fig. 4), logits (Fig. 6), bnn_metrics; ``activations`` needs settings it has no field for).

    ``rates``/``chips`` default to the recipe's ``eval`` section; ``test_subset`` to the
    whole test set in the full budget and a stratified 2000 examples in the quick one.
    ``scheme``/``bits`` quantize with another scheme or precision than training did
    (post-training quantization). ``batch_stats`` evaluates with the normalization
    layers in training mode (batch statistics at test time, Tab. 10). ``scale_to``
    scales the conv/linear weights and biases globally so their largest magnitude is
    ``scale_to`` before quantizing (Tab. 11). ``persistent`` reads a profiled chip's
    persistent errors only (Tab. 16). ``rerr="official"`` with ``test_first=9000`` (and
    ``test_subset=None``) scores as paper 3's reference code does. ``format`` stores the weights in a number
    format of :mod:`bitrobust.formats` (e.g. ``"bf16"``; post-training conversion; unset: the run's own).
    ``protect_bits``, ``protect_tensors``, ``target_tensors``, ``target_bits``, ``expose_metadata``, ``ecc``
    and ``ecc_policy`` protect, target and ECC-code the memory (contract 6; None: the run's recipe's ``eval``
    section, else unprotected). ``tensors`` (name globs) and ``positions`` (bit positions) are the budget of a
    ``vulnerability`` map.
    """

    key: str
    kind: str = "random"
    rates: Any = None
    chips: Any = None
    first_chip: int = 0
    paper_chips: tuple[str, ...] = ()
    offsets: Any = 10
    chip_seed: int = 0
    scheme: str | None = None
    bits: int | None = None
    batch_stats: bool = False
    scale_to: float | None = None
    persistent: bool = False
    rerr: str = "plain"
    test_first: Any = None
    test_subset: Any = field(default_factory=lambda: {"quick": 2000, "full": None})
    bs: tuple[float, ...] = (2, 4, 8, 16, 32, 64)
    format: str | None = None
    protect_bits: Any = None
    protect_tensors: Any = None
    target_tensors: Any = None
    target_bits: Any = None
    expose_metadata: Any = None
    ecc: Any = None
    ecc_policy: Any = None
    tensors: Any = None
    positions: Any = None

    def __post_init__(self) -> None:
        EVAL_KINDS.get(self.kind)  # an unknown kind raises, listing the valid ones


@dataclass(frozen=True)
class Row:
    """One line of a section: run ``run`` evaluated with ``eval`` (default: the section's)."""

    run: str
    eval: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Section:
    """A table (and figure) of the report, written to ``OUT/NAME/<key>/``.

    ``rows`` empty means every run of the experiment with ``eval``. ``extra_eval`` is a
    second evaluation shown beside the first (BNN: T^b next to accuracy over BER).
    ``confidence`` adds clean and perturbed mean confidences (Tab. 2). A section of a
    :data:`MODEL_FREE_KINDS` kind has no eval and no rows; its ``params`` go to its writer. RErr sections
    compare models with paired differences (contract 8): ``pairs`` lists the (A, B) rows the paper's claims
    compare (e.g. RandBET vs clipping), else every row is compared with ``baseline`` (default: the first row).
    A row is named by its run key, or by its label where a run appears in two rows. Pairs whose rows
    are not in a budget (or a smoke run) are left out; if none is left, every row is compared with the first.
    """

    key: str
    title: str
    eval: str | None
    rows: tuple[Row, ...] = ()
    kind: str = "rerr"
    extra_eval: str | None = None
    confidence: bool = False
    note: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SECTION_KINDS:
            raise BitrobustError(f"unknown section kind {self.kind!r}; valid: {', '.join(SECTION_KINDS)}")
        if (self.kind in MODEL_FREE_KINDS) != (self.eval is None and not self.rows):
            raise ValueError(f"section {self.key}: a {self.kind} section needs "
                             + ("no eval and no rows" if self.kind in MODEL_FREE_KINDS else "an eval"))

    @property
    def model_free(self) -> bool:
        return self.kind in MODEL_FREE_KINDS


def rows(*keys: str, eval: str | None = None) -> tuple[Row, ...]:
    """Rows for run keys (``"run@label"`` sets a label)."""
    out = []
    for key in keys:
        run, _, label = key.partition("@")
        out.append(Row(run, eval, label or None))
    return tuple(out)


@dataclass(frozen=True)
class Experiment:
    """One reproducible table or figure (see the module docstring).

    ``notes`` list deviations from the paper.
    ``smoke_runs`` restricts ``--smoke`` to a few representative runs (default: all).
    ``repeats`` (int or per budget, e.g. ``{"quick": 3}``) trains every run of this experiment with
    seeds 0..n-1 where it is set, instead of the runs' own ``repeats`` (models shared with other
    experiments keep their repeats there); seed 0 is the single run, so finished runs are reused.
    """

    name: str
    paper: str
    reproduces: str
    title: str
    description: str = ""
    runs: tuple[RunSpec, ...] = ()
    evals: tuple[EvalSpec, ...] = ()
    sections: tuple[Section, ...] = ()
    notes: tuple[str, ...] = ()
    smoke_runs: tuple[str, ...] = ()
    repeats: Any = None

    def __post_init__(self) -> None:
        runs = [r.key for r in self.runs]
        evals = [e.key for e in self.evals]
        for what, keys in (("run", runs), ("evaluation", evals), ("section", [s.key for s in self.sections])):
            dup = sorted({k for k in keys if keys.count(k) > 1})
            if dup:
                raise ValueError(f"experiment {self.name}: duplicate {what} key {dup[0]!r}")
        for s in self.sections:
            for key in [s.eval, s.extra_eval] + [r.eval for r in s.rows]:
                if key is not None and key not in evals:
                    raise ValueError(f"experiment {self.name}, section {s.key}: unknown evaluation {key!r}")
            for r in s.rows:
                if r.run not in runs:
                    raise ValueError(f"experiment {self.name}, section {s.key}: unknown run {r.run!r}")
            for name in ([s.baseline] if s.baseline else []) + [n for pair in s.pairs for n in pair]:
                self.row_named(s, name)  # raises for an unknown or ambiguous name
        for k in self.smoke_runs:
            if k not in runs:
                raise ValueError(f"experiment {self.name}: unknown smoke run {k!r}")

    def n_repeats(self, run: RunSpec, budget: str) -> int:
        """How many seeds of ``run`` this experiment trains in ``budget``."""
        return int(for_budget(self.repeats, budget) or run.n_repeats(budget))

    def run(self, key: str) -> RunSpec:
        return next(r for r in self.runs if r.key == key)

    def eval(self, key: str) -> EvalSpec:
        return next(e for e in self.evals if e.key == key)

    def section_rows(self, section: Section) -> tuple[Row, ...]:
        if section.model_free:
            return ()
        return section.rows or tuple(Row(r.key) for r in self.runs)

    def row_named(self, section: Section, name: str) -> Row:
        """The row of ``section`` that ``name`` (a run key or a row label) names; one line if none or several."""
        found = [r for r in self.section_rows(section) if r.label == name] or \
            [r for r in self.section_rows(section) if r.run == name]
        if len(found) != 1:
            raise ValueError(f"experiment {self.name}, section {section.key}: {name!r} names "
                             f"{'no' if not found else 'more than one'} row (use a run key or a row label)")
        return found[0]
