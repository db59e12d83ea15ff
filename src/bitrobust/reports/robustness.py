"""Write a robustness result as JSON, CSV, a Markdown table and a plot of RErr vs p.

Tables follow paper 3's layout: Err and RErr mean +- std per bit error rate p, in %.
The plot shows RErr (mean, with the min-max band over chips) against p on a log
axis, with Err as a dashed reference line. Files are written atomically.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.io import atomic_path, write_json, write_text


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def markdown_table(results: dict[str, RobustnessResult]) -> str:
    """One row per model: Err, then RErr mean +- std for every rate (all in %)."""
    rates = sorted({r.p for res in results.values() for r in res.rates if r.p > 0})
    head = ["Model", "Err in %"] + [f"RErr p={100 * p:g}%" for p in rates]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in results.items():
        cells = [name, pct(res.err)]
        for p in rates:
            try:
                r = res.rate(p)
                cells.append(f"{pct(r.mean)} ± {pct(r.std)}")
            except KeyError:
                cells.append("-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_text(result: RobustnessResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["p", "trial", "rerr", "confidence"])
    writer.writerow([0.0, "clean", result.err, result.confidence])
    for r in result.rates:
        for i, (e, c) in enumerate(zip(r.rerr, r.confidence)):
            writer.writerow([r.p, i, e, c])
    return buf.getvalue()


def plot_rerr(results: dict[str, RobustnessResult], path: str | Path, title: str = "Robust test error under bit errors") -> None:
    """RErr (mean, min-max band) vs p, log-scale p axis; Err as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for i, (name, res) in enumerate(results.items()):
        color = f"C{i % 10}"
        rates = [r for r in res.rates if r.p > 0]
        ps = [100 * r.p for r in rates]
        ax.plot(ps, [100 * r.mean for r in rates], "o-", color=color, label=f"{name} (Err {pct(res.err)}%)")
        ax.fill_between(ps, [100 * r.min for r in rates], [100 * r.max for r in rates], color=color, alpha=0.15)
        ax.axhline(100 * res.err, color=color, ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("bit error rate p in % (log scale)")
    ax.set_ylabel("RErr in % (mean over chips; band: min-max)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_robustness(result: RobustnessResult, out_dir: str | Path, name: str = "model", stem: str = "robustness") -> list[Path]:
    """``<stem>.json``, ``.csv``, ``.md`` and ``.png`` in ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.{ext}" for ext in ("json", "csv", "md", "png")]
    write_json(paths[0], result.to_dict())
    write_text(paths[1], csv_text(result))
    write_text(paths[2], markdown_table({name: result}))
    plot_rerr({name: result}, paths[3])
    return paths
