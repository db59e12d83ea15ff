"""Comparison tables of several evaluated models, in paper 3's layout (Tab. 18-21, Fig. 7).

One row per model: precision m, clean Err, and RErr mean ± std over chips at every bit
error rate p, each followed by the Prop. 1 upper bound on the expected robust error
(App. C.2; :mod:`bitrobust.metrics.bounds`). A second table lists the best model per p
and precision (the black curves of Fig. 7 — the per-p Pareto frontier of RErr over
models) and the models on the Err/RErr trade-off front at that p (no other model of the
same precision has both lower Err and lower RErr, Sec. 5.4). Everything is written as
Markdown, CSV and JSON; numbers are in % in Markdown and fractions in CSV/JSON.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bitrobust.errors import BitrobustError
from bitrobust.metrics.bounds import DEFAULT_DELTA, bound_applies, excess_term, rerr_upper_bound
from bitrobust.reports.runs import Run


@dataclass(frozen=True)
class ReportSettings:
    """Report options: Prop. 1 confidence 1 - delta, and the Markdown title."""

    delta: float = DEFAULT_DELTA
    title: str = "Robustness report"
    ymax: float | None = None  # upper limit of the RErr axis in % (None: automatic)


@dataclass(frozen=True)
class BestAtRate:
    """The lowest mean RErr at rate p among the models of precision ``bits``."""

    bits: int
    p: float
    name: str
    err: float
    rerr_mean: float
    rerr_std: float
    rerr_bound: float | None
    pareto: tuple[str, ...]  # models not dominated in (Err, RErr at p), input order


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def rate_label(p: float) -> str:
    return f"{100 * p:g}%"


def rate_symbol(runs: Sequence[Run]) -> str:
    """"p" for bit error results, "eps" for L-inf weight noise (``eval --errors linf``); never both."""
    kinds = {run.result.source == "linf" for run in runs}
    if len(kinds) > 1:
        raise BitrobustError("cannot compare L-inf weight noise results (eval --errors linf) with bit error results in one report")
    return "eps" if kinds == {True} else "p"


def rate_axis_label(symbol: str) -> str:
    if symbol == "eps":
        return "L-inf noise eps in % of each tensor's range (log scale)"
    return "bit error rate p in % (log scale)"


def report_rates(runs: Sequence[Run]) -> list[float]:
    """All evaluated rates p > 0 over the runs, ascending."""
    return sorted({r.p for run in runs for r in run.result.rates if r.p > 0})


def _rate(run: Run, p: float):
    try:
        return run.result.rate(p)
    except KeyError:
        return None


def run_excess(run: Run, delta: float) -> float | None:
    """Prop. 1 excess term for this run's n test examples and l chips, or None if it does not apply."""
    res = run.result
    return excess_term(res.n_examples, res.trials, delta) if bound_applies(res.source) else None


def rate_bound(run: Run, p: float, delta: float) -> float | None:
    """min(1, RErr mean + excess) at rate p (App. C.2), None where Prop. 1 does not apply."""
    r = _rate(run, p)
    if r is None or not bound_applies(run.result.source):
        return None
    return rerr_upper_bound(min(1.0, max(0.0, r.mean)), run.result.n_examples, run.result.trials, delta)


def precisions(runs: Sequence[Run]) -> list[int]:
    """Precisions m present, highest first (Tab. 18 order: m = 8, then 4, ...)."""
    return sorted({run.bits for run in runs}, reverse=True)


def pareto_front(points: Sequence[tuple[str, float, float]]) -> tuple[str, ...]:
    """Names whose (Err, RErr) no other point beats in both (<= in both, < in one)."""
    front = []
    for name, e, r in points:
        dominated = any(e2 <= e and r2 <= r and (e2 < e or r2 < r) for _, e2, r2 in points)
        if not dominated:
            front.append(name)
    return tuple(front)


def best_per_rate(runs: Sequence[Run], delta: float = DEFAULT_DELTA) -> list[BestAtRate]:
    """Per precision m (highest first) and rate p (ascending): the model with the lowest mean RErr.

    Ties go to the first run given. This is the per-p Pareto frontier of Fig. 7 (black).
    """
    out = []
    for bits in precisions(runs):
        group = [run for run in runs if run.bits == bits]
        for p in report_rates(group):
            have = [(run, _rate(run, p)) for run in group]
            have = [(run, r) for run, r in have if r is not None]
            if not have:
                continue
            run, r = min(have, key=lambda item: item[1].mean)
            front = pareto_front([(o.name, o.result.err, ro.mean) for o, ro in have])
            out.append(BestAtRate(bits, p, run.name, run.result.err, r.mean, r.std, rate_bound(run, p, delta), front))
    return out


def _scheme_label(scheme: dict) -> str:
    if not scheme:
        return "-"
    return "{}, {}, {}, {}".format(
        scheme.get("range", "?"),
        "symmetric" if scheme.get("symmetric") else "asymmetric",
        "signed" if scheme.get("signed") else "unsigned",
        scheme.get("rounding", "?"),
    )


def markdown_report(runs: Sequence[Run], settings: ReportSettings = ReportSettings()) -> str:
    """The Markdown report: main table, best model per p, and the runs' evaluation settings."""
    delta = settings.delta
    sym = rate_symbol(runs)
    rates = report_rates(runs)
    conf = f"{100 * (1 - delta):g}%"
    lines = [
        f"# {settings.title}",
        "",
        "Err and RErr in %. RErr: mean ± std over the l chips at "
        + ("bit error rate p" if sym == "p" else "L-inf weight noise eps (relative to each tensor's range)")
        + "; in parentheses the "
        f"Prop. 1 upper bound (paper 3, App. C.2) on the expected robust error at confidence {conf} "
        f"(delta = {delta:g}), from the run's n test examples and l chips. **Bold**: lowest mean RErr at "
        "that p among the models of the same precision m.",
        "",
    ]
    best_shown = {}  # (bits, p) -> lowest displayed mean
    for bits in precisions(runs):
        for p in rates:
            means = [round(100 * r.mean, 2) for run in runs if run.bits == bits and (r := _rate(run, p)) is not None]
            if means:
                best_shown[(bits, p)] = min(means)
    head = ["Model", "m", "Err in %"] + [f"RErr {sym}={rate_label(p)}" for p in rates]
    lines += ["| " + " | ".join(head) + " |", "|---|---:|---:|" + "---:|" * len(rates)]
    for run in sorted(runs, key=lambda r: -r.bits):  # stable: input order within a precision
        cells = [run.name, str(run.bits), pct(run.result.err)]
        for p in rates:
            r = _rate(run, p)
            if r is None:
                cells.append("-")
                continue
            mean = pct(r.mean)
            if round(100 * r.mean, 2) == best_shown[(run.bits, p)]:
                mean = f"**{mean}**"
            cell = f"{mean} ± {pct(r.std)}"
            bound = rate_bound(run, p, delta)
            if bound is not None:
                cell += f" (≤ {pct(bound)})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Best model per bit error rate",
        "",
        "Lowest mean RErr at each p among the models of one precision m (the black curves of paper 3, "
        "Fig. 7). Err/RErr front: the models that no other model of that precision beats in both clean "
        "Err and RErr at that p (the accuracy/robustness trade-off of Sec. 5.4).",
        "",
        f"| m | {sym} in % | Best model | Err in % | RErr in % | Prop. 1 bound in % | Err/RErr front |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for b in best_per_rate(runs, delta):
        bound = "-" if b.rerr_bound is None else pct(b.rerr_bound)
        lines.append(
            f"| {b.bits} | {100 * b.p:g} | {b.name} | {pct(b.err)} | {pct(b.rerr_mean)} ± {pct(b.rerr_std)} "
            f"| {bound} | {', '.join(b.pareto)} |"
        )
    lines += [
        "",
        "## Runs",
        "",
        f"Prop. 1 excess: the margin sqrt(log((n+1)/delta)/n) (sqrt(l)+sqrt(n))/sqrt(l) added to RErr "
        "(it does not apply to offsets into one profiled chip, whose patterns are not i.i.d.).",
        "",
        "| Model | Run directory | Errors | n | l | Prop. 1 excess in % | Quantization |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for run in sorted(runs, key=lambda r: -r.bits):
        res = run.result
        excess = run_excess(run, delta)
        lines.append(
            f"| {run.name} | {run.path.name} | {res.source} | {res.n_examples} | {res.trials} "
            f"| {'n/a' if excess is None else pct(excess)} | {res.bits} bit, {_scheme_label(res.scheme)} |"
        )
    return "\n".join(lines) + "\n"


CSV_COLUMNS = [
    "model", "run", "bits", "errors", "n_examples", "trials", "err", "confidence_clean", "p",
    "rerr_mean", "rerr_std", "rerr_min", "rerr_max", "confidence_mean", "rerr_bound", "best",
]


def csv_report(runs: Sequence[Run], settings: ReportSettings = ReportSettings()) -> str:
    """Long format, one row per (model, p); fractions, not %. ``best``: lowest mean RErr at p for its m."""
    best = {(b.bits, b.p): b.name for b in best_per_rate(runs, settings.delta)}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        res = run.result
        for r in res.rates:
            if r.p <= 0:
                continue
            bound = rate_bound(run, r.p, settings.delta)
            writer.writerow([
                run.name, str(run.path), res.bits, res.source, res.n_examples, res.trials, res.err, res.confidence,
                r.p, r.mean, r.std, r.min, r.max, r.mean_confidence, "" if bound is None else bound,
                int(best.get((res.bits, r.p)) == run.name),
            ])
    return buf.getvalue()


def json_report(runs: Sequence[Run], settings: ReportSettings = ReportSettings()) -> dict:
    """Summaries (no per-chip lists) with the Prop. 1 bounds, plus the best model per p."""
    delta = settings.delta
    return {
        "delta": delta,
        "confidence_level": 1 - delta,
        "rates": report_rates(runs),
        "runs": [
            {
                "name": run.name,
                "run": str(run.path),
                "bits": run.bits,
                "errors": run.result.source,
                "n_examples": run.result.n_examples,
                "trials": run.result.trials,
                "err": run.result.err,
                "confidence": run.result.confidence,
                "excess": run_excess(run, delta),
                "rates": [dict(r.summary(), rerr_bound=rate_bound(run, r.p, delta)) for r in run.result.rates if r.p > 0],
            }
            for run in runs
        ],
        "best_per_p": [
            {
                "bits": b.bits, "p": b.p, "name": b.name, "err": b.err, "rerr_mean": b.rerr_mean,
                "rerr_std": b.rerr_std, "rerr_bound": b.rerr_bound, "err_rerr_front": list(b.pareto),
            }
            for b in best_per_rate(runs, delta)
        ],
    }


def write_report(runs: Sequence[Run], out_dir: str | Path, settings: ReportSettings = ReportSettings()) -> list[Path]:
    """report.md, report.csv, report.json, rerr_vs_p.png and confidence.png in ``out_dir``."""
    from bitrobust.io import write_json, write_text
    from bitrobust.reports.figures import plot_confidence, plot_rerr_frontier

    rate_symbol(runs)  # refuses to mix L-inf noise with bit errors before writing anything
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in ("report.md", "report.csv", "report.json", "rerr_vs_p.png", "confidence.png")]
    write_text(paths[0], markdown_report(runs, settings))
    write_text(paths[1], csv_report(runs, settings))
    write_json(paths[2], json_report(runs, settings))
    plot_rerr_frontier(runs, paths[3], ymax=settings.ymax)
    plot_confidence(runs, paths[4])
    return paths
