"""Logit and confidence distributions, clean and with random bit errors (paper 3, Fig. 6 left and middle).

From each model's ``logits.json`` (the ``logits`` evaluation): per model, the histogram of
the largest logit and of the confidence (max softmax probability) per test example, on the
clean quantized weights (blue) and pooled over the chips at each bit error rate (red), as
in Fig. 6, and a table of their means. Weight clipping should narrow the logits while
keeping high confidences, and bit errors should move both less.
"""

from __future__ import annotations

from pathlib import Path

from bitrobust.io import write_json, write_text
from bitrobust.reports.experiment_input import SectionInput
from bitrobust.reports.plotting import pyplot, save_figure
from bitrobust.reports.text import csv_text, markdown_table, pct

RATE_COLORS = ("tab:red", "tab:orange", "tab:purple", "tab:brown")


def _fraction(counts: list[int]) -> list[float]:
    """Counts as fractions of their sum (all zero stays zero).

    >>> _fraction([1, 3]), _fraction([0, 0])
    ([0.25, 0.75], [0.0, 0.0])
    """
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def plot_logits(entries: list[tuple[str, dict]], path: Path, title: str) -> None:
    """Rows: models; columns: largest logit, confidence (log-scaled fraction of examples)."""
    plt = pyplot()
    fig, axes = plt.subplots(len(entries), 2, figsize=(10.0, 2.7 * len(entries) + 0.6), dpi=120, squeeze=False)
    for i, (label, res) in enumerate(entries):
        for j, (key, xlabel) in enumerate((("max_logit", "largest logit"), ("confidence", "confidence (max softmax)"))):
            ax = axes[i][j]
            clean = res["clean"][key]
            ax.stairs(_fraction(clean["counts"]), clean["edges"], color="tab:blue", lw=1.5, fill=True, alpha=0.35,
                      label="clean")
            for k, rate in enumerate(res["rates"]):
                h = rate[key]
                ax.stairs(_fraction(h["counts"]), h["edges"], color=RATE_COLORS[k % len(RATE_COLORS)], lw=1.5,
                          label=f"bit errors, p={100 * rate['p']:g}% ({res['chips']} chips)")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel("fraction of examples", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
            ax.set_title(f"{label}: {xlabel}", fontsize=9)
        axes[i][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def logits_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """logits.md, .csv (the histograms), .json and .png in ``out``; returns the lines of report.md and the results' part."""
    out.mkdir(parents=True, exist_ok=True)
    entries = [(e.label, e.evaluations[0].result) for e in section.entries]
    rates = sorted({r["p"] for _, res in entries for r in res["rates"]})
    head = ["Model", "mean largest logit (clean)", "mean confidence in % (clean)"]
    for p in rates:
        head += [f"mean largest logit (p={100 * p:g}%)", f"mean confidence in % (p={100 * p:g}%)",
                 f"non-finite in % (p={100 * p:g}%)"]
    body, rows = [], []
    for label, res in entries:
        by_p = {r["p"]: r for r in res["rates"]}
        line = [label, f"{res['clean']['max_logit']['mean']:.3g}", pct(res["clean"]["confidence"]["mean"], 1)]
        for p in rates:
            r = by_p.get(p)
            if r is None:
                line += ["-", "-", "-"]
                continue
            z, total = r["max_logit"], sum(r["confidence"]["counts"]) + r["confidence"]["nonfinite"]
            line += ["-" if z["mean"] is None else f"{z['mean']:.3g}", pct(r["confidence"]["mean"], 1),
                     pct(r["confidence"]["nonfinite"] / total if total else 0.0, 2)]
        body.append(line)
        rows.append({"model": label, "n_examples": res["n_examples"], "chips": res["chips"],
                     "clean": {k: v["mean"] for k, v in res["clean"].items()},
                     "rates": [{"p": r["p"], **{k: r[k]["mean"] for k in ("max_logit", "confidence")}} for r in res["rates"]]})
    table = markdown_table(head, body)
    explain = ("Per test example, the largest logit and the confidence (max softmax probability), on the clean "
               "quantized weights and with random bit errors (all chips of a rate pooled); Fig. 6 left and middle.")
    write_text(out / "logits.md", "\n".join([f"# {reproduces}: {section.title}", "", explain, ""] + table) + "\n")
    csv_rows = [["model", "p", "quantity", "bin_low", "bin_high", "count"]]
    for label, res in entries:
        for p, hists in [(0.0, res["clean"])] + [(r["p"], r) for r in res["rates"]]:
            for key in ("max_logit", "confidence"):
                h = hists[key]
                csv_rows += [[label, p, key, lo, hi, c] for lo, hi, c in zip(h["edges"], h["edges"][1:], h["counts"])]
    write_text(out / "logits.csv", csv_text(csv_rows))
    data = {"rows": rows}
    write_json(out / "logits.json", {"rows": rows, "histograms": {label: res for label, res in entries}})
    plot_logits(entries, out / "logits.png", section.title)
    lines = [explain, ""] + table + ["", f"Files: [{out.name}/logits.md]({out.name}/logits.md), `logits.csv` "
                                     "(the histograms).", "", f"![logit and confidence distributions]({out.name}/logits.png)", ""]
    return lines, data
