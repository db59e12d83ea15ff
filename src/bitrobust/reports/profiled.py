"""RErr per model on profiled chips (paper 3, Tab. 5 and 15; Tab. 16 for PattBET).

A profiled chip has its own bit error rate p = p_0t1 + p_1t0 (App. C.1); a model is
evaluated at several weight-to-memory offsets into it. The ``profiled`` section of an
experiment report extracts RErr mean ± std over the offsets per model and chip, then
renders a table (Markdown, CSV, JSON) and a grouped bar chart.
"""

from __future__ import annotations

from pathlib import Path

from bitrobust.evaluation.robustness import RateResult, RobustnessResult
from bitrobust.io import write_json, write_text
from bitrobust.reports.experiment_input import SectionInput
from bitrobust.reports.plotting import pyplot, save_figure
from bitrobust.reports.text import csv_text, markdown_table, pct

Row = tuple[str, Path, float | None, dict[str, RateResult]]  # label, run directory, clean Err, chip -> RErr


def profiled_rows(section: SectionInput) -> tuple[list[tuple[str, float]], list[Row]]:
    """(chips as (name, p) in first-seen order, one row per entry with its RErr per chip).

    >>> from bitrobust.reports.experiment_input import Evaluation, RunEntry
    >>> res = {"err": 0.1, "confidence": 0.9, "n_examples": 100, "source": "profiled", "trials": 2, "bits": 8,
    ...        "scheme": {}, "rates": [{"p": 0.01, "rerr": [0.2, 0.3], "confidence": [0.8, 0.8]}]}
    >>> entry = RunEntry("RQUANT", Path("runs/rquant"), (Evaluation(res, "chip1"),))
    >>> chips, rows = profiled_rows(SectionInput("profiled", "Profiled chips", "profiled", (entry,)))
    >>> chips, rows[0][3]["chip1"].mean
    ([('chip1', 0.01)], 0.25)
    """
    chips: list[tuple[str, float]] = []
    rows = []
    for entry in section.entries:
        cells = {}
        err = None
        for ev in entry.evaluations:
            res = RobustnessResult.from_dict(ev.result)
            err = res.err
            r = res.rates[0]
            name = ev.chip
            if name not in [c for c, _ in chips]:
                chips.append((name, r.p))
            cells[name] = r
        rows.append((entry.label, entry.run_dir, err, cells))
    return chips, rows


def profiled_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """profiled.md, .csv, .json and .png in ``out``; returns the lines of ``report.md`` and the results' part."""
    chips, rows = profiled_rows(section)
    head = ["Model", "Err in %"] + [f"{name} (p≈{100 * p:.3g}%)" for name, p in chips]
    body = [[label, pct(err)] + [f"{pct(c[n].mean)} ± {pct(c[n].std)}" if n in c else "-" for n, _ in chips]
            for label, _, err, c in rows]
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# {reproduces}: {section.title}", "",
          "RErr in % (mean ± std over the weight-to-memory offsets) on each chip; p is the chip's own bit error "
          "rate p_0t1 + p_1t0.", ""] + markdown_table(head, body)
    write_text(out / "profiled.md", "\n".join(md) + "\n")
    csv_rows = [["model", "run", "chip", "chip_p", "err", "rerr_mean", "rerr_std", "rerr_min", "rerr_max", "offsets"]]
    for label, run_dir, err, c in rows:
        for name, p in chips:
            if name in c:
                r = c[name]
                csv_rows.append([label, str(run_dir), name, p, err, r.mean, r.std, r.min, r.max, len(r.rerr)])
    write_text(out / "profiled.csv", csv_text(csv_rows))
    data = {"chips": [{"chip": n, "p": p} for n, p in chips],
            "rows": [{"model": label, "run": str(run_dir), "err": err,
                      "chips": {n: c[n].summary() for n, _ in chips if n in c}} for label, run_dir, err, c in rows]}
    write_json(out / "profiled.json", data)
    _plot(section.title, chips, rows, out / "profiled.png")
    lines = markdown_table(head, body) + ["", f"Files: [{out.name}/profiled.md]({out.name}/profiled.md), `profiled.csv`, "
                                          "`profiled.json`.", "", f"![RErr per chip]({out.name}/profiled.png)", ""]
    return lines, data


def _plot(title: str, chips: list[tuple[str, float]], rows: list[Row], path: Path) -> None:
    """Bars of RErr (mean, std as error bar) per chip, one colour per model."""
    fig, ax = pyplot().subplots(figsize=(max(6.4, 1.3 * len(chips) + 2), 4.4), dpi=120)
    width = 0.8 / max(len(rows), 1)
    for i, (label, _, _, c) in enumerate(rows):
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
