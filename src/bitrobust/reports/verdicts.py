"""Generated verdicts for a results page: the paired statistics of contract 8 written into marked blocks.

A results page (``docs/RESULTS.md``) keeps its hand-written prose; the verdict words come from
the experiments' ``results.json`` (written by ``bitrobust reproduce``). Two markers, each closed by
``<!-- /verdict -->``:

- ``<!-- verdict:NAME -->...<!-- /verdict -->`` (inline, e.g. a table cell): how many of the
  experiment's paired comparisons are resolved, with the seeds, chips l and test examples n;
- ``<!-- verdicts:NAME -->...<!-- /verdict -->`` (a block): one line per compared pair, saying
  at which rates (or profiled chips) which model is lower and where it is not resolved.

NAME is an experiment of the quick budget, or ``NAME@BUDGET`` one of another budget (``p3-table21@medium``): its
results are found in whichever of the given results directories holds ``NAME/results.json`` written with that
budget (each report records its budget), so one page can cite a quick and a medium report of one experiment.
Everything between a marker and its end is replaced; the rest of the page is kept byte for byte.
Markers of experiments whose results were written before the paired comparisons existed keep their text and
are named, so a page can be regenerated while only some experiments have been re-run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bitrobust.errors import BitrobustError
from bitrobust.io import read_json, write_text
from bitrobust.reports.native_vs_st import VERDICTS as NATIVE_VS_ST_VERDICTS

MARKER = re.compile(r"(?<!`)<!-- (verdicts?):([\w.+-]+(?:@\w+)?) -->(.*?)<!-- /verdict -->", re.S)  # not in `code`
DEFAULT_BUDGET = "quick"  # a marker without @BUDGET
VERDICTS = ("A lower", "B lower", "not resolved")


@dataclass(frozen=True)
class Comparison:
    """One compared pair of an experiment: the section, the models, and per rate / chip its verdict."""

    section: str
    a: str
    b: str
    points: tuple[tuple[str, str], ...]  # (where: a rate "1%" or a profiled chip's name, verdict)
    seeds: tuple[int, ...]
    chips: tuple[int, ...]
    n: tuple[int, ...]
    refused: str = ""
    metric: str = ""  # a per-model metric (VAR(Pi)) instead of RErr


def _distinct(rows: list[dict], key: str) -> tuple[int, ...]:
    return tuple(sorted({r[key] for r in rows}))


def _where(row: dict) -> str:
    return row["chip"] if "chip" in row else f"{100 * row['p']:g}%"


def comparisons(results: dict) -> list[Comparison]:
    """The paired comparisons in an experiment's ``results.json`` (RErr per rate or chip, and per-model metrics).

    >>> res = {"sections": [{"title": "T", "paired": [{"a": "C", "b": "R", "rows": [
    ...     {"p": 0.01, "verdict": "A lower", "seeds": 3, "chips": 10, "n": 2000}]}]}]}
    >>> [(c.a, c.b, c.points) for c in comparisons(res)]
    [('C', 'R', (('1%', 'A lower'),))]
    """
    out = []
    for section in results.get("sections", []):
        if section.get("kind") == "bnn_native_vs_st":
            out += _native_vs_st(section)
            continue
        for c in section.get("paired", []):
            if "metric" in c:  # a per-model metric paired over seeds (VAR(Pi))
                name = {"var_pi": "VAR(Pi)"}.get(c["metric"], c["metric"])
                out.append(Comparison(section["title"], c["a"], c["b"], (("", c["verdict"]),), (c["seeds"],), (), (),
                                      metric=name))
                continue
            rows = c.get("rows", [])
            out.append(Comparison(section["title"], c["a"], c["b"], tuple((_where(r), r["verdict"]) for r in rows),
                                  _distinct(rows, "seeds"), _distinct(rows, "chips"), _distinct(rows, "n"),
                                  c.get("refused", "")))
    return out


def _native_vs_st(section: dict) -> list[Comparison]:
    """Paper 2's operators per straight-through gradient and training BER, as test error (1 - accuracy: the
    operator with the higher accuracy has the lower error) over the evaluation BERs."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for row in section.get("paired", []):
        groups.setdefault((row["ste"], row["train_ber"]), []).append(row)
    verdict = {words: v for v, words in NATIVE_VS_ST_VERDICTS.items()}  # "ST higher" -> "A lower" (A: ST)
    return [Comparison(f"{section['title']}, {ste} gradient, trained at {100 * ber:g}%", "straight-through", "native",
                       tuple((f"{100 * r['eval_ber']:g}%", verdict[r["verdict"]]) for r in rows),
                       _distinct(rows, "seeds"), _distinct(rows, "reads"), _distinct(rows, "n"), metric="test error")
            for (ste, ber), rows in groups.items()]


def _counts(values: tuple[int, ...]) -> str:
    return "/".join(str(v) for v in values) or "-"


def _scope(found: list[Comparison]) -> str:
    seeds = tuple(sorted({s for c in found for s in c.seeds}))
    chips = tuple(sorted({x for c in found for x in c.chips}))
    n = tuple(sorted({x for c in found for x in c.n}))
    parts = [f"{_counts(seeds)} seed{'s' if seeds != (1,) else ''}"]
    if chips:
        parts += [f"l = {_counts(chips)}", f"n = {_counts(n)}"]
    return ", ".join(parts)


def summary(found: list[Comparison]) -> str:
    """The inline verdict: resolved comparisons out of all, with seeds, chips and test examples.

    >>> c = Comparison("T", "C", "R", (("1%", "A lower"), ("5%", "not resolved")), (3,), (10,), (2000,))
    >>> summary([c])
    '1 of 2 paired comparisons resolved (3 seeds, l = 10, n = 2000)'
    """
    points = [v for c in found for _, v in c.points]
    resolved = sum(v != "not resolved" for v in points)
    return f"{resolved} of {len(points)} paired comparisons resolved ({_scope(found)})"


def _lower(c: Comparison, verdict: str) -> str:
    return {"A lower": f"{c.a} lower", "B lower": f"{c.b} lower"}.get(verdict, verdict)


def block(found: list[Comparison]) -> str:
    """The block verdict: one Markdown list item per compared pair.

    >>> c = Comparison("T", "C", "R", (("1%", "A lower"), ("5%", "not resolved"), ("10%", "A lower")), (3,), (10,), (2000,))
    >>> print(block([c]))
    - C vs R (T): C lower at 1%, 10%; not resolved at 5% (3 seeds, l = 10, n = 2000)
    """
    lines = []
    for c in found:
        if c.refused:
            lines.append(f"- {c.a} vs {c.b} ({c.section}): not paired ({c.refused})")
            continue
        parts = []
        for verdict in VERDICTS:
            where = [w for w, v in c.points if v == verdict]
            if where:
                parts.append(_lower(c, verdict) + (f" at {', '.join(where)}" if any(where) else ""))
        what = f", {c.metric}" if c.metric else ""
        lines.append(f"- {c.a} vs {c.b} ({c.section}{what}): {'; '.join(parts)} ({_scope([c])})")
    return "\n".join(lines)


def load_comparisons(results_dirs: Sequence[Path], marker: str) -> list[Comparison]:
    """The comparisons of the experiment a marker names (``NAME`` or ``NAME@BUDGET``, module docstring), from the
    first of ``results_dirs`` holding ``NAME/results.json`` of that budget (empty: none recorded)."""
    name, _, budget = marker.partition("@")
    budget = budget or DEFAULT_BUDGET
    found = []
    for folder in results_dirs:
        path = Path(folder) / name / "results.json"
        if path.is_file():
            results = read_json(path, f"results of {name}")
            if results.get("budget", DEFAULT_BUDGET) == budget:
                return comparisons(results)
            found.append(f"{path} ({results.get('budget', DEFAULT_BUDGET)})")
    raise BitrobustError(f"results of {name} with budget {budget} not found in {', '.join(map(str, results_dirs))}"
                         + (f"; found only {', '.join(found)}" if found else ""))


def render(doc: str, results_dirs: str | Path | Sequence[str | Path]) -> tuple[str, list[str], list[str]]:
    """``doc`` with its verdict markers generated from the reports in ``results_dirs`` (one directory or several):
    (text, markers used, markers left).

    A marker whose experiment's results hold no paired comparisons (written before contract 8) keeps its text;
    such experiments are returned as left, and a document where every marker is left is refused.

    >>> render("no markers here", ".")
    Traceback (most recent call last):
    bitrobust.errors.BitrobustError: no verdict markers (<!-- verdict:NAME --> ... <!-- /verdict -->) in the document
    """
    dirs = [Path(results_dirs)] if isinstance(results_dirs, (str, Path)) else [Path(d) for d in results_dirs]
    cache: dict[str, list[Comparison]] = {}

    def replace(m: re.Match) -> str:
        kind, name = m.group(1), m.group(2)
        if name not in cache:
            cache[name] = load_comparisons(dirs, name)
        if not cache[name]:
            return m.group(0)
        text = summary(cache[name]) if kind == "verdict" else "\n" + block(cache[name]) + "\n"
        return f"<!-- {kind}:{name} -->{text}<!-- /verdict -->"

    if not MARKER.search(doc):
        raise BitrobustError("no verdict markers (<!-- verdict:NAME --> ... <!-- /verdict -->) in the document")
    text = MARKER.sub(replace, doc)
    used = [name for name, found in cache.items() if found]
    left = [name for name, found in cache.items() if not found]
    if not used:
        raise BitrobustError(f"no paired comparisons in the results of {', '.join(left)} (written before contract 8?): "
                             f"re-run `bitrobust reproduce NAME` and copy its report to {dirs[0]}/NAME")
    return text, used, left


def write_verdicts(doc_path: str | Path, results_dirs: str | Path | Sequence[str | Path]) -> tuple[list[str], list[str]]:
    """Rewrite the verdict markers of the file ``doc_path`` (atomically); returns the markers used and left."""
    path = Path(doc_path)
    if not path.is_file():
        raise BitrobustError(f"no document {path} to write verdicts into")
    dirs = [results_dirs] if isinstance(results_dirs, (str, Path)) else list(results_dirs)
    for folder in dirs:
        if not Path(folder).is_dir():
            raise BitrobustError(f"no results directory {folder}")
    text, used, left = render(path.read_text(), dirs)
    write_text(path, text)
    return used, left
