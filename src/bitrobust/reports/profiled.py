"""RErr per model on profiled chips (paper 3, Tab. 5 and 15; Tab. 16 for PattBET).

A profiled chip has its own bit error rate p = p_0t1 + p_1t0 (App. C.1); a model is
evaluated at several weight-to-memory offsets into it. The ``profiled`` section of an
experiment report extracts RErr mean ± std over the (training seeds x) offsets per model and
chip, then renders a table (Markdown, CSV, JSON), the paired comparisons of contract 8 chip by
chip, and a grouped bar chart.
"""

from __future__ import annotations

from pathlib import Path

from bitrobust.evaluation.robustness import RateResult, RobustnessResult
from bitrobust.io import write_json, write_text
from bitrobust.reports.experiment_input import RunEntry, SectionInput
from bitrobust.reports.paired import (
    comparisons_json,
    comparisons_markdown,
    pooled,
    section_comparisons,
    section_models,
    write_comparisons,
)
from bitrobust.reports.plotting import pyplot, save_figure
from bitrobust.reports.text import csv_text, markdown_table, pct

Row = tuple[str, Path, float | None, dict[str, RateResult], int, int]
"""label, run directory (seed 0), clean Err, chip -> RErr over seeds x offsets, seeds, test examples"""


def entry_results(entry: RunEntry) -> dict[str, RobustnessResult]:
    """An entry's result on each profiled chip it was evaluated on."""
    return {ev.chip: RobustnessResult.from_dict(ev.result) for ev in entry.evaluations}


def profiled_rows(section: SectionInput) -> tuple[list[tuple[str, float]], list[Row]]:
    """(chips as (name, p) in first-seen order, one row per model with its RErr per chip, pooled over seeds).

    >>> from bitrobust.reports.experiment_input import Evaluation
    >>> res = {"err": 0.1, "confidence": 0.9, "n_examples": 100, "source": "profiled", "trials": 2, "bits": 8,
    ...        "scheme": {}, "rates": [{"p": 0.01, "rerr": [0.2, 0.3], "confidence": [0.8, 0.8]}]}
    >>> entry = RunEntry("RQUANT", Path("runs/rquant"), (Evaluation(res, "chip1"),))
    >>> chips, rows = profiled_rows(SectionInput("profiled", "Profiled chips", "profiled", (entry,)))
    >>> chips, rows[0][3]["chip1"].mean, rows[0][4:]
    ([('chip1', 0.01)], 0.25, (1, 100))
    """
    chips: list[tuple[str, float]] = []
    rows = []
    for model in section_models(section):
        results = [entry_results(e) for e in model.entries]
        cells = {}
        for name, res in results[0].items():
            merged = pooled([r[name] for r in results if name in r])
            if name not in [c for c, _ in chips]:
                chips.append((name, merged.rates[0].p))
            cells[name] = merged.rates[0]
        first = next(iter(results[0].values()), None)
        err = sum(next(iter(r.values())).err for r in results) / len(results) if first else None
        rows.append((model.name, model.entries[0].run_dir, err, cells, model.seeds, first.n_examples if first else 0))
    return chips, rows


def profiled_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """profiled.md, .csv, .json, .png and paired.csv in ``out``; returns the lines of ``report.md`` and the
    results' part. With several training seeds a model's RErr is pooled over seeds x offsets, and models
    are compared chip by chip with paired differences (contract 8)."""
    chips, rows = profiled_rows(section)
    head = ["Model", "Err in %"] + [f"{name} (p≈{100 * p:.3g}%)" for name, p in chips] + ["n", "offsets", "seeds"]
    body = [[label, pct(err)] + [f"{pct(c[n].mean)} ± {pct(c[n].std)}" if n in c else "-" for n, _ in chips]
            + [n_ex, len(next(iter(c.values())).rerr) // seeds if c else "-", seeds]
            for label, _, err, c, seeds, n_ex in rows]
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# {reproduces}: {section.title}", "",
          "RErr in % (mean ± std over the training seeds x weight-to-memory offsets) on each chip; p is the chip's "
          "own bit error rate p_0t1 + p_1t0.", ""] + markdown_table(head, body)
    write_text(out / "profiled.md", "\n".join(md) + "\n")
    csv_rows = [["model", "run", "chip", "chip_p", "err", "rerr_mean", "rerr_std", "rerr_min", "rerr_max", "offsets", "seeds"]]
    for label, run_dir, err, c, seeds, _ in rows:
        for name, p in chips:
            if name in c:
                r = c[name]
                csv_rows.append([label, str(run_dir), name, p, err, r.mean, r.std, r.min, r.max, len(r.rerr) // seeds, seeds])
    write_text(out / "profiled.csv", csv_text(csv_rows))
    comparisons = section_comparisons(section, entry_results)
    write_comparisons(comparisons, out)
    data = {"chips": [{"chip": n, "p": p} for n, p in chips],
            "rows": [{"model": label, "run": str(run_dir), "err": err, "seeds": seeds, "n_examples": n_ex,
                      "chips": {n: c[n].summary() for n, _ in chips if n in c}} for label, run_dir, err, c, seeds, n_ex in rows],
            "paired": comparisons_json(comparisons)}
    write_json(out / "profiled.json", data)
    _plot(section.title, chips, rows, out / "profiled.png")
    lines = markdown_table(head, body) + ["", f"Files: [{out.name}/profiled.md]({out.name}/profiled.md), `profiled.csv`, "
                                          "`profiled.json`, `paired.csv`.", "",
                                          "Paired comparisons per chip (l: offsets into the chip):", ""]
    lines += comparisons_markdown(comparisons, "chip") + [f"![RErr per chip]({out.name}/profiled.png)", ""]
    return lines, data


def _plot(title: str, chips: list[tuple[str, float]], rows: list[Row], path: Path) -> None:
    """Bars of RErr (mean, std as error bar) per chip, one colour per model."""
    fig, ax = pyplot().subplots(figsize=(max(6.4, 1.3 * len(chips) + 2), 4.4), dpi=120)
    width = 0.8 / max(len(rows), 1)
    for i, (label, _, _, c, _, _) in enumerate(rows):
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(chips))]
        ax.bar(xs, [100 * c[n].mean if n in c else 0 for n, _ in chips], width,
               yerr=[100 * c[n].std if n in c else 0 for n, _ in chips], label=label, color=f"C{i % 10}", capsize=2)
    ax.set_xticks(range(len(chips)))
    ax.set_xticklabels([f"{n}\np≈{100 * p:.3g}%" for n, p in chips], fontsize=8)
    ax.set_ylabel("RErr in % (mean ± std over offsets)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
