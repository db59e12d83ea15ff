"""Paired comparison of two models (or two training recipes over seeds): the table of contract 8.

Per rate p: both models' mean RErr, the mean paired difference A - B over chips (and seeds)
with its 95% interval, and the verdict ("A lower", "B lower", "not resolved"); every row
states n (test examples), l (chips) and the number of seeds. The comparison requires the
same chips on both sides (same source, trials and first chip), the same test examples and the
same RErr definition; anything else is an error, not a silently unpaired number. A result that
does not record its first chip or test set (written before they were recorded) matches any.

Experiment reports (:func:`section_comparisons`) compare, in every RErr section, each model
(a row, pooled over its training seeds) with the section's reference model, or the pairs the
section names: seed i of A is paired with seed i of B, chip c with chip c.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import RateResult, RobustnessResult
from bitrobust.io import write_json, write_text
from bitrobust.metrics.paired import PairedDifference, paired_difference
from bitrobust.reports.experiment_input import RunEntry, SectionInput
from bitrobust.reports.text import csv_text, markdown_table, pct


@dataclass(frozen=True)
class PairedRow:
    p: float
    mean_a: float
    mean_b: float
    diff: PairedDifference
    n: int


_KEY_FIELDS = ("source", "trials", "first_chip", "n_examples", "test_set", "rerr_definition")
_KEY_WHAT = {
    "source": "different chips (error sources {}): evaluate both sides with the same --kind",
    "trials": "different chips (numbers of chips {}): evaluate both sides with the same --chips",
    "first_chip": "different chips (first chips {}): evaluate both sides with the same --first-chip",
    "n_examples": "different numbers of test examples ({})",
    "test_set": "different test examples ({})",
    "rerr_definition": "different RErr definitions ({}; plain vs official)",
}


def _check_pairable(a: Sequence[RobustnessResult], b: Sequence[RobustnessResult]) -> None:
    if not a or not b:
        raise BitrobustError("a comparison needs at least one evaluated run on each side")
    results = list(a) + list(b)
    for i, name in enumerate(_KEY_FIELDS):
        values = list(dict.fromkeys(r.pairing_key()[i] for r in results))
        known = [v for v in values if v is not None]  # None: not recorded (older result files)
        if len(known) > 1:
            raise BitrobustError("the runs were evaluated on " + _KEY_WHAT[name].format(" vs ".join(map(str, known))))


def _mean(rows: Sequence[Sequence[float]]) -> float:
    return sum(sum(r) for r in rows) / sum(len(r) for r in rows)


def compare(a: Sequence[RobustnessResult], b: Sequence[RobustnessResult]) -> list[PairedRow]:
    """One row per rate both sides were evaluated at; ``a`` and ``b`` hold one result per training seed
    (seed i of A is paired with seed i of B; chips with the same chips).

    >>> from bitrobust.evaluation.robustness import RateResult
    >>> def result(rerr):
    ...     return RobustnessResult(0.01, 0.9, 1000, "random", 3, 8, {}, (RateResult(0.01, rerr, (0.8,) * 3),))
    >>> [row.diff.verdict for row in compare([result((0.02, 0.03, 0.025))], [result((0.05, 0.06, 0.055))])]
    ['A lower']
    """
    _check_pairable(a, b)
    rows = []
    for p in sorted(set.intersection(*({r.p for r in res.rates if r.p > 0} for res in list(a) + list(b)))):
        ra = [res.rate(p).rerr for res in a]
        rb = [res.rate(p).rerr for res in b]
        rows.append(PairedRow(p, _mean(ra), _mean(rb), paired_difference(ra, rb), a[0].n_examples))
    if not rows:
        raise BitrobustError("the two sides share no bit error rate (every run of both sides must be evaluated at it)")
    return rows


def markdown(rows: Sequence[PairedRow], label_a: str, label_b: str) -> str:
    head = ["p in %", f"A: {label_a}", f"B: {label_b}", "A - B", "95% interval", "verdict", "n", "l", "seeds", "unit"]
    body = [[f"{100 * r.p:g}", pct(r.mean_a), pct(r.mean_b), pct(r.diff.mean), f"[{pct(r.diff.low)}, {pct(r.diff.high)}]",
             r.diff.verdict, r.n, r.diff.chips, r.diff.seeds, r.diff.unit] for r in rows]
    lines = [f"# Paired comparison: A = {label_a}, B = {label_b}", "",
             "RErr in % (mean over chips and seeds); A - B is the mean paired difference with its 95% Student-t "
             "interval over the independent units (seeds when there are several, else chips of one trained model); "
             "n test examples, l chips.", ""]
    return "\n".join(lines + markdown_table(head, body) + [""])


def as_json(rows: Sequence[PairedRow], label_a: str, label_b: str) -> dict:
    return {"a": label_a, "b": label_b, "rows": [
        {"p": r.p, "rerr_a": r.mean_a, "rerr_b": r.mean_b, "n": r.n, **r.diff.to_dict()} for r in rows]}


def write_comparison(rows: Sequence[PairedRow], label_a: str, label_b: str, out_dir: str | Path) -> list[Path]:
    """``compare.md``, ``compare.csv`` and ``compare.json`` in ``out_dir``."""
    out = Path(out_dir)
    paths = [out / "compare.md", out / "compare.csv", out / "compare.json"]
    write_text(paths[0], markdown(rows, label_a, label_b))
    data = as_json(rows, label_a, label_b)["rows"]
    keys = list(data[0])
    write_text(paths[1], csv_text([keys] + [[row[k] for k in keys] for row in data]))
    write_json(paths[2], as_json(rows, label_a, label_b))
    return paths


# -- experiment report sections -----------------------------------------------------------------


@dataclass(frozen=True)
class SectionModel:
    """One model of a report section: its entries, one per training seed (in seed order)."""

    name: str
    entries: tuple[RunEntry, ...]

    @property
    def seeds(self) -> int:
        return len(self.entries)


def section_models(section: SectionInput) -> list[SectionModel]:
    """The section's entries grouped by model (``RunEntry.model``, else the label), in first-seen order.

    >>> from bitrobust.reports.experiment_input import Evaluation
    >>> e = [RunEntry(f"A (seed {i})", Path("r"), (Evaluation({}),), model="A", seed=i) for i in (1, 0)]
    >>> [(m.name, [x.seed for x in m.entries]) for m in section_models(SectionInput("s", "S", "rerr", tuple(e)))]
    [('A', [0, 1])]
    """
    groups: dict[str, list[RunEntry]] = {}
    for entry in section.entries:
        groups.setdefault(entry.model or entry.label, []).append(entry)
    return [SectionModel(name, tuple(sorted(es, key=lambda e: -1 if e.seed is None else e.seed)))
            for name, es in groups.items()]


def section_pairs(section: SectionInput, models: Sequence[SectionModel]) -> list[tuple[SectionModel, SectionModel]]:
    """The (A, B) model pairs to compare: ``section.pairs`` where both models are present, else every
    model against the first (the section's reference).

    >>> from bitrobust.reports.experiment_input import Evaluation
    >>> e = tuple(RunEntry(x, Path(x), (Evaluation({}),)) for x in "RCB")
    >>> [(a.name, b.name) for a, b in section_pairs(SectionInput("s", "S", "rerr", e), section_models(SectionInput("s", "S", "rerr", e)))]
    [('C', 'R'), ('B', 'R')]
    """
    by_name = {m.name: m for m in models}
    if section.pairs:
        return [(by_name[a], by_name[b]) for a, b in section.pairs if a in by_name and b in by_name]
    return [(m, models[0]) for m in models[1:]]


@dataclass(frozen=True)
class SectionComparison:
    """A vs B in one section: paired rows (``where`` names the profiled chip, else ""), or why they cannot be paired."""

    a: str
    b: str
    rows: tuple[tuple[str, PairedRow], ...] = ()
    refused: str = ""


Results = Callable[[RunEntry], dict[str, RobustnessResult]]
"""An entry's robustness results by where they were measured ("" for one evaluation, else the profiled chip)."""


def section_comparisons(section: SectionInput, results: Results) -> list[SectionComparison]:
    """Paired comparisons of :func:`section_pairs` (see the module docstring).

    >>> from bitrobust.reports.experiment_input import Evaluation
    >>> def res(rerr):
    ...     return {"err": 0.0, "confidence": 1.0, "n_examples": 100, "source": "random", "trials": 2, "bits": 8,
    ...             "scheme": {}, "rates": [{"p": 0.01, "rerr": rerr, "confidence": [1.0, 1.0]}]}
    >>> e = (RunEntry("R", Path("r"), (Evaluation(res([0.5, 0.6])),)), RunEntry("C", Path("c"), (Evaluation(res([0.1, 0.2])),)))
    >>> [c] = section_comparisons(SectionInput("s", "S", "rerr", e), lambda e: {"": RobustnessResult.from_dict(e.evaluations[0].result)})
    >>> c.a, c.b, c.rows[0][1].diff.verdict, round(c.rows[0][1].diff.mean, 2)
    ('C', 'R', 'A lower', -0.4)
    """
    out = []
    for a, b in section_pairs(section, section_models(section)):
        ra, rb = [results(e) for e in a.entries], [results(e) for e in b.entries]
        wheres = [w for w in ra[0] if all(w in r for r in ra + rb)]
        try:
            if a.seeds != b.seeds:
                raise BitrobustError(f"different numbers of training seeds ({a.seeds} vs {b.seeds})")
            rows = tuple((w, row) for w in wheres for row in compare([r[w] for r in ra], [r[w] for r in rb]))
            if not rows:
                raise BitrobustError("no chip or rate in common")
            out.append(SectionComparison(a.name, b.name, rows))
        except BitrobustError as exc:
            out.append(SectionComparison(a.name, b.name, refused=str(exc)))
    return out


def pooled(results: Sequence[RobustnessResult]) -> RobustnessResult:
    """One model's results over its training seeds pooled: Err averaged, RErr values of every (seed, chip)
    together (so mean and std are over seeds x chips; ``trials`` stays the chips per seed).

    >>> one = RobustnessResult(0.1, 0.9, 10, "random", 2, 8, {}, (RateResult(0.01, (0.2, 0.4), (0.8, 0.8)),))
    >>> two = replace(one, err=0.2, rates=(RateResult(0.01, (0.3, 0.5), (0.7, 0.7)),))
    >>> p = pooled([one, two]); round(p.err, 3), p.rate(0.01).rerr, p.trials
    (0.15, (0.2, 0.4, 0.3, 0.5), 2)
    """
    first = results[0]
    shared = [r.p for r in first.rates if all(any(x.p == r.p for x in res.rates) for res in results)]
    def joined(p: float, name: str) -> tuple:
        return sum((getattr(res.rate(p), name) for res in results), ())

    def every(p: float, name: str) -> tuple:  # () unless every seed has it (perplexity, ECC counts)
        return joined(p, name) if all(getattr(res.rate(p), name) for res in results) else ()

    rates = tuple(RateResult(p, joined(p, "rerr"), joined(p, "confidence"), nonfinite=joined(p, "nonfinite"),
                             perplexity=every(p, "perplexity"), ecc_corrected=every(p, "ecc_corrected"),
                             ecc_detected=every(p, "ecc_detected"))
                  for p in shared)
    ppl = [r.perplexity for r in results]
    return replace(first, err=sum(r.err for r in results) / len(results),
                   confidence=sum(r.confidence for r in results) / len(results), rates=rates,
                   perplexity=None if None in ppl else sum(ppl) / len(ppl))


PAIRED_NOTE = ("A - B: mean paired difference of RErr in points over the same chips (and training seeds: seed i "
               "of A with seed i of B), with its 95% Student-t interval over the independent units (the seeds' "
               "means when there are several seeds, else the chips of one trained model); verdict: A lower / "
               "B lower when the interval excludes 0, else not resolved. n: test examples, l: chips per seed.")


def comparisons_markdown(comparisons: Sequence[SectionComparison], where: str = "p in %") -> list[str]:
    """Lines of report.md: one table row per (pair, rate or chip); ``where`` heads the rate / chip column."""
    head = ["A", "B", where, "RErr A in %", "RErr B in %", "A - B", "95% interval", "verdict", "n", "l", "seeds"]
    body = []
    for c in comparisons:
        if c.refused:
            body.append([c.a, c.b, "-", "-", "-", "-", "-", f"not paired: {c.refused}", "-", "-", "-"])
        for w, r in c.rows:
            d = r.diff
            body.append([c.a, c.b, w or f"{100 * r.p:g}", pct(r.mean_a), pct(r.mean_b), pct(d.mean),
                         f"[{pct(d.low)}, {pct(d.high)}]", d.verdict, r.n, d.chips, d.seeds])
    return markdown_table(head, body, "---|---|" + "---:|" * 5 + "---|" + "---:|" * 3) + ["", PAIRED_NOTE, ""]


def comparisons_json(comparisons: Sequence[SectionComparison]) -> list[dict]:
    """The comparisons for results.json (fractions, not %)."""
    return [{"a": c.a, "b": c.b, **({"refused": c.refused} if c.refused else {}), "rows": [
        {**({"chip": w} if w else {}), "p": r.p, "rerr_a": r.mean_a, "rerr_b": r.mean_b, "n": r.n, **r.diff.to_dict()}
        for w, r in c.rows]} for c in comparisons]


def write_comparisons(comparisons: Sequence[SectionComparison], out: Path) -> Path:
    """``paired.csv`` in ``out``: one line per (pair, rate or chip); returns its path."""
    keys = ["a", "b", "chip", "p", "rerr_a", "rerr_b", "n", "mean", "low", "high", "seeds", "chips", "unit",
            "confidence", "verdict"]
    lines: list[list] = [keys]
    for c in comparisons_json(comparisons):
        lines += [[c["a"], c["b"]] + [row.get(k, "") for k in keys[2:]] for row in c["rows"]]
        if "refused" in c:
            lines.append([c["a"], c["b"]] + [""] * (len(keys) - 3) + [f"not paired: {c['refused']}"])
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "paired.csv", csv_text(lines))
    return out / "paired.csv"


# -- a per-model metric paired over training seeds (VAR(Pi), papers 1 and 2) -----------------------


@dataclass(frozen=True)
class MetricComparison:
    """A vs B on a metric that each trained model has once (e.g. VAR(Pi)), paired seed by seed."""

    a: str
    b: str
    mean_a: float
    mean_b: float
    diff: PairedDifference


def metric_comparison(a: str, b: str, values_a: Sequence[float], values_b: Sequence[float]) -> MetricComparison:
    """Seed i of A paired with seed i of B; the interval has seeds - 1 degrees of freedom (one seed: unbounded).

    >>> c = metric_comparison("BET", "regular", [1.0, 1.2, 1.1], [2.0, 2.3, 2.1])
    >>> c.diff.verdict, c.diff.seeds, round(c.diff.mean, 3)
    ('A lower', 3, -1.033)
    """
    diff = paired_difference([[v] for v in values_a], [[v] for v in values_b])
    return MetricComparison(a, b, sum(values_a) / len(values_a), sum(values_b) / len(values_b), diff)


def metric_markdown(comparisons: Sequence[MetricComparison], metric: str) -> list[str]:
    """Lines of report.md for :func:`metric_comparison` results (values with 3 significant digits)."""
    body = [[c.a, c.b, f"{c.mean_a:.3g}", f"{c.mean_b:.3g}", f"{c.diff.mean:.3g}",
             f"[{c.diff.low:.3g}, {c.diff.high:.3g}]", c.diff.verdict, c.diff.seeds] for c in comparisons]
    return markdown_table(["A", "B", f"{metric} A", f"{metric} B", "A - B", "95% interval", "verdict", "seeds"], body,
                          "---|---|" + "---:|" * 4 + "---|---:|") + [
        "", f"{metric} of A and B (mean over seeds) and the mean paired difference A - B over training seeds (seed i "
        "of A with seed i of B) with its 95% Student-t interval (seeds - 1 degrees of freedom; one seed resolves "
        "nothing).", ""]


def metric_json(comparisons: Sequence[MetricComparison], metric: str) -> list[dict]:
    return [{"a": c.a, "b": c.b, "metric": metric, "value_a": c.mean_a, "value_b": c.mean_b, **c.diff.to_dict()}
            for c in comparisons]
