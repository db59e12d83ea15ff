"""Comparison tables of several evaluated models, in paper 3's layout (Tab. 18-21, Fig. 7).

One row per model: precision m, clean Err, and RErr mean ± std over chips at every bit
error rate p, each followed by the Prop. 1 upper bound on the expected robust error
(App. C.2; :mod:`bitrobust.metrics.bounds`). A second table lists the best model per p
and precision (the black curves of Fig. 7 — the per-p Pareto frontier of RErr over
models) and the models on the Err/RErr trade-off front at that p (no other model of the
same precision has both lower Err and lower RErr, Sec. 5.4); the numbers come from
:mod:`bitrobust.reports.comparison`. Everything is written as Markdown, CSV and JSON;
numbers are in % in Markdown and fractions in CSV/JSON. :func:`rerr_section` is the
``rerr`` section of an experiment report: a compact table in the paper's layout beside
these full tables and the figures of :mod:`bitrobust.reports.figures`; for language models
(contract 7) it adds the perplexity, clean and mean ± std over chips per p, and its figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.io import write_json, write_text
from bitrobust.metrics.bounds import DEFAULT_DELTA
from bitrobust.reports.comparison import (
    best_per_rate,
    precisions,
    rate_bound,
    rate_result,
    rate_symbol,
    report_rates,
    run_excess,
)
from bitrobust.reports.experiment_input import SectionInput
from bitrobust.reports.figures import plot_confidence, plot_rerr_frontier
from bitrobust.reports.robustness import perplexity_text, plot_perplexity, rate_perplexity
from bitrobust.reports.paired import comparisons_json, comparisons_markdown, pooled, section_comparisons, section_models, write_comparisons
from bitrobust.reports.runs import Run
from bitrobust.reports.text import csv_text, markdown_table, pct


@dataclass(frozen=True)
class ReportSettings:
    """Report options: Prop. 1 confidence 1 - delta, and the Markdown title."""

    delta: float = DEFAULT_DELTA
    title: str = "Robustness report"
    ymax: float | None = None  # upper limit of the RErr axis in % (None: automatic)


def rate_label(p: float) -> str:
    """A rate as a column label.

    >>> rate_label(0.001)
    '0.1%'
    """
    return f"{100 * p:g}%"


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
            means = [round(100 * r.mean, 2) for run in runs if run.bits == bits and (r := rate_result(run, p)) is not None]
            if means:
                best_shown[(bits, p)] = min(means)
    head = ["Model", "m", "Err in %"] + [f"RErr {sym}={rate_label(p)}" for p in rates]
    body = []
    for run in sorted(runs, key=lambda r: -r.bits):  # stable: input order within a precision
        cells = [run.name, str(run.bits), pct(run.result.err)]
        for p in rates:
            r = rate_result(run, p)
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
        body.append(cells)
    lines += markdown_table(head, body)
    lines += [
        "",
        "## Best model per bit error rate",
        "",
        "Lowest mean RErr at each p among the models of one precision m (the black curves of paper 3, "
        "Fig. 7). Err/RErr front: the models that no other model of that precision beats in both clean "
        "Err and RErr at that p (the accuracy/robustness trade-off of Sec. 5.4).",
        "",
    ]
    lines += markdown_table(
        ["m", f"{sym} in %", "Best model", "Err in %", "RErr in %", "Prop. 1 bound in %", "Err/RErr front"],
        [[b.bits, f"{100 * b.p:g}", b.name, pct(b.err), f"{pct(b.rerr_mean)} ± {pct(b.rerr_std)}", pct(b.rerr_bound),
          ", ".join(b.pareto)] for b in best_per_rate(runs, delta)],
        "---:|---:|---|---:|---:|---:|---|",
    )
    lines += [
        "",
        "## Runs",
        "",
        "Prop. 1 excess: the margin sqrt(log((n+1)/delta)/n) (sqrt(l)+sqrt(n))/sqrt(l) added to RErr "
        "(it does not apply to offsets into one profiled chip, whose patterns are not i.i.d.).",
        "",
    ]
    body = []
    for run in sorted(runs, key=lambda r: -r.bits):
        res = run.result
        excess = run_excess(run, delta)
        body.append([run.name, run.path.name, res.source, res.n_examples, res.trials,
                     "n/a" if excess is None else pct(excess), f"{res.bits} bit, {_scheme_label(res.scheme)}"])
    lines += markdown_table(["Model", "Run directory", "Errors", "n", "l", "Prop. 1 excess in %", "Quantization"], body,
                            "---|---|---|---:|---:|---:|---|")
    return "\n".join(lines) + "\n"


CSV_COLUMNS = [
    "model", "run", "bits", "errors", "n_examples", "trials", "err", "confidence_clean", "p",
    "rerr_mean", "rerr_std", "rerr_min", "rerr_max", "confidence_mean", "rerr_bound", "best",
]


def csv_report(runs: Sequence[Run], settings: ReportSettings = ReportSettings()) -> str:
    """Long format, one row per (model, p); fractions, not %. ``best``: lowest mean RErr at p for its m."""
    best = {(b.bits, b.p): b.name for b in best_per_rate(runs, settings.delta)}
    rows: list[list] = [CSV_COLUMNS]
    for run in runs:
        res = run.result
        for r in res.rates:
            if r.p <= 0:
                continue
            bound = rate_bound(run, r.p, settings.delta)
            rows.append([
                run.name, str(run.path), res.bits, res.source, res.n_examples, res.trials, res.err, res.confidence,
                r.p, r.mean, r.std, r.min, r.max, r.mean_confidence, "" if bound is None else bound,
                int(best.get((res.bits, r.p)) == run.name),
            ])
    return csv_text(rows)


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


def _entry_result(entry) -> dict[str, RobustnessResult]:
    return {"": RobustnessResult.from_dict(entry.evaluations[0].result)}


def rerr_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """The ``rerr`` section of an experiment report: :func:`write_report` in ``out`` (one row per trained
    model, i.e. per training seed, with its Prop. 1 bounds), a compact table with one row per model (RErr
    mean ± std over seeds x chips per p, the best per precision in bold, n, l and seeds; confidences with
    ``section.confidence``, Tab. 2; perplexities when the runs are language models, with
    ``perplexity_vs_p.png``) and the paired comparisons of contract 8 (also in ``out/paired.csv``).

    Returns the section's lines of ``report.md`` and its part of ``results.json``.
    """
    runs = [Run(e.label, e.run_dir, _entry_result(e)[""]) for e in section.entries]
    paths = write_report(runs, out, ReportSettings(title=f"{reproduces}: {section.title}"))
    sym = rate_symbol(runs)
    models = section_models(section)
    pooled_runs = [Run(m.name, m.entries[0].run_dir, pooled([_entry_result(e)[""] for e in m.entries])) for m in models]
    rates = report_rates(pooled_runs)
    best = {(b.bits, b.p): b.name for b in best_per_rate(pooled_runs)}
    head = ["Model", "m", "Err in %"]
    if section.confidence:
        head.append("Conf in %")
    head += [f"RErr {sym}={100 * p:g}%" for p in rates]
    if section.confidence:
        head += [f"Conf {sym}={100 * p:g}%" for p in rates]
    lm = all(run.result.perplexity is not None for run in runs)
    if lm:
        head += ["PPL"] + [f"PPL {sym}={100 * p:g}%" for p in rates]
    head += ["n", "l", "seeds"]
    body = []
    for run, model in zip(pooled_runs, models):
        res = run.result
        cells = [run.name, str(run.bits), pct(res.err)] + ([pct(res.confidence)] if section.confidence else [])
        confs = []
        for p in rates:
            r = rate_result(run, p)
            if r is None:
                cells.append("-")
                confs.append("-")
                continue
            mean = pct(r.mean)
            cells.append(f"**{mean}** ± {pct(r.std)}" if best.get((run.bits, p)) == run.name else f"{mean} ± {pct(r.std)}")
            confs.append(pct(r.mean_confidence))
        ppl = [perplexity_text(res.perplexity)] + [rate_perplexity(r) if (r := rate_result(run, p)) else "-"
                                                   for p in rates]
        body.append(cells + (confs if section.confidence else []) + (ppl if lm else [])
                    + [res.n_examples, res.trials, model.seeds])
    comparisons = section_comparisons(section, _entry_result)
    write_comparisons(comparisons, out)
    lines = markdown_table(head, body)
    lines += ["", f"RErr: mean ± std over the seeds x l chips of each model; **bold**: lowest mean RErr at that {sym} "
              f"among the models of the same precision m. Full tables (one row per trained model with its Prop. 1 "
              f"bounds, best model per {sym}, CSV, JSON): [{out.name}/report.md]({out.name}/report.md).", "",
              f"Paired comparisons ([{out.name}/paired.csv]({out.name}/paired.csv)):", ""]
    lines += comparisons_markdown(comparisons, f"{sym} in %")
    lines += [f"![RErr vs {sym}]({out.name}/{paths[3].name})", ""]
    if section.confidence:
        lines += [f"![confidence]({out.name}/{paths[4].name})", ""]
    if lm:
        plot_perplexity({run.name: run.result for run in runs}, out / "perplexity_vs_p.png",
                        title=f"{reproduces}: {section.title}")
        lines += ["PPL: perplexity exp(mean next-token NLL) over the test tokens, clean and mean ± std over chips.",
                  "", f"![perplexity vs {sym}]({out.name}/perplexity_vs_p.png)", ""]
    paper = paper_table(pooled_runs, section.params["paper"], sym) if "paper" in section.params else None
    if paper:
        lines += paper[0]
    nonfinite, ecc = nonfinite_table(pooled_runs, rates, sym), ecc_table(pooled_runs, rates, sym)
    data = {"rates": rates, "rows": [
        {"model": run.name, "run": str(run.path), "bits": run.bits, "errors": run.result.source, "err": run.result.err,
         "confidence": run.result.confidence, "n_examples": run.result.n_examples, "trials": run.result.trials,
         **({"perplexity": run.result.perplexity} if lm else {}),
         "rates": [r.summary() for r in run.result.rates if r.p > 0]}
        for run in runs
    ], "models": [
        {"model": run.name, "bits": run.bits, "seeds": model.seeds, "err": run.result.err,
         "n_examples": run.result.n_examples, "chips": run.result.trials,
         "rates": [r.summary() for r in run.result.rates if r.p > 0]}
        for run, model in zip(pooled_runs, models)
    ], "paired": comparisons_json(comparisons)}
    if paper:
        data["paper"] = paper[1]
    for key, (table_lines, table_data) in (("nonfinite", nonfinite), ("ecc", ecc)):
        if table_data:
            lines += table_lines
            data[key] = table_data
    return lines, data


def paper_table(runs: Sequence[Run], paper: dict, sym: str = "p") -> tuple[list[str], list[dict]]:
    """The paper's printed numbers beside the measured ones, for the models the paper reports.

    ``paper``: ``source`` (where the numbers are printed), ``rates`` (fractions) and ``models``: per model name
    its ``err`` and ``rerr`` (one per rate) in %, as printed. Measured: clean Err and RErr mean ± std over
    seeds x chips ("-" where a rate was not evaluated). The paper's tables come from its official code, which
    counts an example wrong if the clean or the perturbed model is wrong (``rerr="official"``); on the same
    examples that RErr lies between the plain RErr and RErr + Err, which the note states.

    >>> from bitrobust.evaluation.robustness import RateResult
    >>> res = RobustnessResult(0.01, 0.9, 100, "random", 2, 8, {}, (RateResult(0.01, (0.02, 0.04), (0.9, 0.9)),))
    >>> paper = {"source": "Tab. 21", "rates": [0.01], "models": {"RQUANT": {"err": 0.40, "rerr": [0.69]}}}
    >>> print("\\n".join(paper_table([Run("RQUANT", Path("r"), res)], paper)[0][2:5]))
    | Model | Err paper | Err here | RErr p=1% paper | RErr p=1% here |
    |---|---:|---:|---:|---:|
    | RQUANT | 0.40 | 1.00 | 0.69 | 3.00 ± 1.00 |
    """
    by_name = {run.name: run for run in runs}
    rates = [float(p) for p in paper["rates"]]
    head = ["Model", "Err paper", "Err here"]
    for p in rates:
        head += [f"RErr {sym}={100 * p:g}% paper", f"RErr {sym}={100 * p:g}% here"]
    body, data = [], []
    for name, printed in paper["models"].items():
        run = by_name.get(name)
        here = [] if run is None else [rate_result(run, p) for p in rates]
        cells = [name, f"{printed['err']:.2f}", "-" if run is None else pct(run.result.err)]
        for i, value in enumerate(printed["rerr"]):
            r = here[i] if here else None
            cells += [f"{value:.2f}", "-" if r is None else f"{pct(r.mean)} ± {pct(r.std)}"]
        body.append(cells)
        data.append({"model": name, "paper_err": printed["err"] / 100,
                     "paper_rerr": [v / 100 for v in printed["rerr"]],
                     "err": None if run is None else run.result.err,
                     "rerr": [None if r is None else r.mean for r in here] if here else None})
    plain = all(run.result.rerr_definition == "plain" for run in runs)
    note = (" The paper's RErr (its official code) counts an example wrong if the clean or the perturbed model is "
            "wrong, on the first 9,000 test images; on the same examples that lies between the plain RErr here and "
            "RErr + Err." if plain else "")
    lines = [f"The paper's numbers ({paper['source']}) beside the measured ones (in %; here: mean ± std over seeds "
             f"x chips; the paired intervals above compare the models measured here).{note}", ""]
    return lines + markdown_table(head, body) + [""], data


def nonfinite_table(runs: Sequence[Run], rates: Sequence[float], sym: str = "p") -> tuple[list[str], list[dict]]:
    """Lines of report.md and results.json rows for the models whose outputs were inf/NaN on some test
    examples (a flipped float exponent, contract 5): the fraction of such examples in %, mean over chips, per
    rate; nothing if no model had any.

    >>> from pathlib import Path
    >>> from bitrobust.evaluation.robustness import RateResult
    >>> rate = RateResult(0.01, (0.9, 0.5), (0.1, 0.1), nonfinite=(0.8, 0.2))
    >>> run = Run("bf16", Path("r"), RobustnessResult(0.01, 0.9, 100, "random", 2, 16, {}, (rate,), format="bf16"))
    >>> lines, rows = nonfinite_table([run], [0.01])
    >>> lines[4], rows
    ('| bf16 | 50.00 |', [{'model': 'bf16', 'rates': [{'p': 0.01, 'nonfinite_mean': 0.5}]}])
    """
    rows, body = [], []
    for run in runs:
        cells = [(p, r.nonfinite) for p in rates if (r := rate_result(run, p)) is not None]
        if not any(any(v) for _, v in cells):
            continue
        means = {p: sum(v) / len(v) for p, v in cells}
        body.append([run.name] + [pct(means[p]) if p in means else "-" for p in rates])
        rows.append({"model": run.name, "rates": [{"p": p, "nonfinite_mean": m} for p, m in means.items()]})
    if not rows:
        return [], []
    lines = ["Non-finite outputs: test examples whose outputs were inf or NaN (a flipped float exponent; counted "
             "wrong), in %, mean over seeds x chips; models not listed had none.", ""]
    lines += markdown_table(["Model"] + [f"NaN/inf {sym}={100 * p:g}%" for p in rates], body) + [""]
    return lines, rows


def ecc_table(runs: Sequence[Run], rates: Sequence[float], sym: str = "p") -> tuple[list[str], list[dict]]:
    """Lines of report.md and results.json rows for the models read through SECDED ECC (contract 6): the
    codewords per read and, per rate, the codewords corrected and detected as uncorrectable, mean per chip;
    nothing if no model had ECC.

    >>> from pathlib import Path
    >>> from bitrobust.evaluation.robustness import RateResult
    >>> rate = RateResult(0.01, (0.1,), (0.9,), ecc_corrected=(40,), ecc_detected=(3,))
    >>> result = RobustnessResult(0.1, 0.9, 100, "random", 1, 8, {}, (rate,), protection={"ecc": "secded64"},
    ...                           ecc_codewords=125)
    >>> lines, rows = ecc_table([Run("int8 + ECC", Path("r"), result)], [0.01])
    >>> lines[4]
    '| int8 + ECC | secded64 | 125 | 40 / 3 |'
    """
    rows, body = [], []
    for run in runs:
        res = run.result
        if res.ecc_codewords is None:
            continue
        counts = {p: (sum(r.ecc_corrected) / len(r.ecc_corrected), sum(r.ecc_detected) / len(r.ecc_detected))
                  for p in rates if (r := rate_result(run, p)) is not None and r.ecc_corrected}
        body.append([run.name, res.protection.get("ecc", "-"), res.ecc_codewords]
                    + [f"{counts[p][0]:.4g} / {counts[p][1]:.4g}" if p in counts else "-" for p in rates])
        rows.append({"model": run.name, "ecc": res.protection.get("ecc"), "codewords": res.ecc_codewords,
                     "ecc_policy": res.protection.get("ecc_policy", "keep"),
                     "rates": [{"p": p, "corrected_mean": c, "detected_mean": d} for p, (c, d) in counts.items()]})
    if not rows:
        return [], []
    lines = ["SECDED ECC: codewords per read, and per rate the codewords corrected / detected as uncorrectable (two "
             "or more flips), mean per chip (contract 6).", ""]
    lines += markdown_table(["Model", "code", "codewords"] + [f"corrected / detected {sym}={100 * p:g}%" for p in rates],
                            body) + [""]
    return lines, rows
