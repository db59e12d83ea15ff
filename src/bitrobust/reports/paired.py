"""Paired comparison of two models (or two training recipes over seeds): the table of contract 8.

Per rate p: both models' mean RErr, the mean paired difference A - B over chips (and seeds)
with its 95% interval, and the verdict ("A lower", "B lower", "not resolved"); every row
states n (test examples), l (chips) and the number of seeds. The comparison requires the
same chips on both sides (same source, trials and first chip) and the same test examples;
anything else is an error, not a silently unpaired number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.io import write_json, write_text
from bitrobust.metrics.paired import PairedDifference, paired_difference
from bitrobust.reports.text import csv_text, markdown_table, pct


@dataclass(frozen=True)
class PairedRow:
    p: float
    mean_a: float
    mean_b: float
    diff: PairedDifference
    n: int


def _check_pairable(a: Sequence[RobustnessResult], b: Sequence[RobustnessResult]) -> None:
    results = list(a) + list(b)
    if not a or not b:
        raise BitrobustError("a comparison needs at least one evaluated run on each side")
    if len({(r.source, r.trials) for r in results}) != 1:
        raise BitrobustError("the runs were evaluated on different chips (source or number of trials differ): "
                             "evaluate both sides with the same --kind and --chips")
    if len({r.n_examples for r in results}) != 1:
        raise BitrobustError("the runs were evaluated on different numbers of test examples")
    if len({r.rerr_definition for r in results}) != 1:
        raise BitrobustError("the runs were evaluated with different RErr definitions (plain vs official)")


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
    for p in sorted({r.p for r in a[0].rates} & {r.p for r in b[0].rates}):
        ra = [res.rate(p).rerr for res in a]
        rb = [res.rate(p).rerr for res in b]
        rows.append(PairedRow(p, _mean(ra), _mean(rb), paired_difference(ra, rb), a[0].n_examples))
    if not rows:
        raise BitrobustError("the two sides share no bit error rate")
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
