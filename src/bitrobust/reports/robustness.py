"""Write a robustness result as JSON, CSV, a Markdown table and a plot of RErr vs p.

Tables follow paper 3's layout: Err and RErr mean +- std per bit error rate p, in %.
The plot shows RErr (mean, with the min-max band over chips) against p on a log
axis, with Err as a dashed reference line. A language model's result (contract 7) adds its
perplexity: clean and mean ± std per p in the table, per chip in the CSV, and a plot of
perplexity vs p. Files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.io import write_text
from bitrobust.reports.plotting import pyplot, save_figure
from bitrobust.reports.runs import example_run  # noqa: F401 (examples below)
from bitrobust.reports.text import csv_text, markdown_table, pct


def perplexity_text(x: float | None) -> str:
    """A perplexity for tables: 3 decimals (4 significant digits from 10^6 on), "inf" when a non-finite output
    made it infinite, "-" if missing.

    >>> perplexity_text(4.12345), perplexity_text(float("inf")), perplexity_text(None), perplexity_text(2.4566e140)
    ('4.123', 'inf', '-', '2.457e+140')
    """
    return "-" if x is None else f"{x:.4g}" if abs(x) >= 1e6 else f"{x:.3f}"


def rate_perplexity(r) -> str:
    """Mean ± std of a rate's perplexity over chips ("-" without one)."""
    if not r.perplexity:
        return "-"
    summary = r.summary()
    return f"{perplexity_text(summary['perplexity_mean'])} ± {perplexity_text(summary['perplexity_std'])}"


def robustness_markdown(results: dict[str, RobustnessResult]) -> str:
    """One row per model: Err, then RErr mean +- std for every rate (all in %); for language models
    also the clean perplexity and its mean +- std over chips per rate.

    >>> print(robustness_markdown({"A": example_run("A", 0.05, (0.2, 0.3)).result}), end="")
    | Model | Err in % | RErr p=1% |
    |---|---|---|
    | A | 5.00 | 25.00 ± 5.00 |
    """
    rates = sorted({r.p for res in results.values() for r in res.rates if r.p > 0})
    lm = any(res.perplexity is not None for res in results.values())
    head = ["Model", "Err in %"] + [f"RErr p={100 * p:g}%" for p in rates]
    if lm:
        head += ["PPL"] + [f"PPL p={100 * p:g}%" for p in rates]
    body = []
    for name, res in results.items():
        cells, ppl = [name, pct(res.err)], [perplexity_text(res.perplexity)]
        for p in rates:
            try:
                r = res.rate(p)
                cells.append(f"{pct(r.mean)} ± {pct(r.std)}")
                ppl.append(rate_perplexity(r))
            except KeyError:
                cells.append("-")
                ppl.append("-")
        body.append(cells + (ppl if lm else []))
    return "\n".join(markdown_table(head, body, "---|" * len(head))) + "\n"


def robustness_csv(result: RobustnessResult) -> str:
    """One row per rate and trial (chip), after the clean row (with the perplexity of an LM and the ECC counts
when ECC is on); CRLF line ends as ``bitrobust eval`` always wrote.

    >>> robustness_csv(example_run("A", 0.05, (0.2,)).result).splitlines()[:2]
    ['p,trial,rerr,confidence', '0.0,clean,0.05,0.9']
    """
    lm = result.perplexity is not None  # a language model: its perplexity per trial too
    ecc = result.ecc_codewords is not None  # SECDED ECC: corrected and detected codewords per trial too
    rows: list[list] = [["p", "trial", "rerr", "confidence"] + ["perplexity"] * lm + ["ecc_corrected", "ecc_detected"] * ecc,
                        [0.0, "clean", result.err, result.confidence] + [result.perplexity] * lm + [0, 0] * ecc]
    for r in result.rates:
        for i, (e, c) in enumerate(zip(r.rerr, r.confidence)):
            rows.append([r.p, i, e, c] + ([r.perplexity[i]] if lm else [])
                        + ([r.ecc_corrected[i], r.ecc_detected[i]] if ecc else []))
    return csv_text(rows, lineterminator="\r\n")


def plot_rerr(results: dict[str, RobustnessResult], path: str | Path, title: str = "Robust test error under bit errors") -> None:
    """RErr (mean, min-max band) vs p, log-scale p axis; Err as dashed lines."""
    def curve(name: str, res: RobustnessResult):
        rates = [r for r in res.rates if r.p > 0]
        return ([100 * r.p for r in rates], [100 * r.mean for r in rates], [100 * r.min for r in rates],
                [100 * r.max for r in rates], f"{name} (Err {pct(res.err)}%)", 100 * res.err)

    _plot_curves(results, path, title, curve, "RErr in % (mean over chips; band: min-max)")


def plot_perplexity(results: dict[str, RobustnessResult], path: str | Path,
                    title: str = "Perplexity under bit errors") -> None:
    """Perplexity (mean over chips, min-max band) vs p, log-scale axes; the clean perplexity as dashed lines.
    Infinite values (non-finite outputs) are left out of the curves."""
    def curve(name: str, res: RobustnessResult):
        rates = [(r.p, r.summary()) for r in res.rates if r.p > 0 and r.perplexity]
        finite = [(100 * p, s) for p, s in rates if s["perplexity_max"] < float("inf")]
        return ([p for p, _ in finite], [s["perplexity_mean"] for _, s in finite],
                [s["perplexity_min"] for _, s in finite], [s["perplexity_max"] for _, s in finite],
                f"{name} (clean {perplexity_text(res.perplexity)})", res.perplexity)

    _plot_curves(results, path, title, curve, "perplexity (mean over chips; band: min-max)", log_y=True)


def _plot_curves(results: dict[str, RobustnessResult], path: str | Path, title: str, curve, ylabel: str,
                 log_y: bool = False) -> None:
    """One curve per result vs p on a log p axis: ``curve(name, result)`` gives (p in %, means, band lows,
    band highs, label, clean reference drawn dashed or None)."""
    fig, ax = pyplot().subplots(figsize=(6.4, 4.2), dpi=120)
    for i, (name, res) in enumerate(results.items()):
        color = f"C{i % 10}"
        ps, means, lows, highs, label, clean = curve(name, res)
        ax.plot(ps, means, "o-", color=color, label=label)
        ax.fill_between(ps, lows, highs, color=color, alpha=0.15)
        if clean is not None:
            ax.axhline(clean, color=color, ls="--", lw=0.8)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("bit error rate p in % (log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def write_robustness(result: RobustnessResult, out_dir: str | Path, name: str = "model", stem: str = "robustness") -> list[Path]:
    """``<stem>.csv``, ``.md`` and ``.png`` in ``out_dir`` (the renderings of a result whose JSON,
    ``<stem>.json``, :func:`bitrobust.evaluation.evaluate` writes), and ``<stem>_perplexity.png`` for a
    language model; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.{ext}" for ext in ("csv", "md", "png")]
    write_text(paths[0], robustness_csv(result))
    write_text(paths[1], robustness_markdown({name: result}))
    plot_rerr({name: result}, paths[2])
    if result.perplexity is not None:
        paths.append(out / f"{stem}_perplexity.png")
        plot_perplexity({name: result}, paths[3])
    return paths
