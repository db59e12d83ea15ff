"""Figures comparing several evaluated models (paper 3, Fig. 2, 7 and 11; Tab. 2 confidences).

``plot_rerr_frontier`` draws RErr against the bit error rate p on a log axis, one
coloured curve per model, and in black the per-p best model for each precision m (the
Pareto frontier of Fig. 2 and 7: solid for the highest m, dashed etc. for lower ones),
with the winning point at every p ringed in black. ``plot_confidence`` draws the mean
confidence (max softmax probability) with bit errors against p, and the clean
confidence as a dashed line of the same colour. PNGs go through :func:`bitrobust.reports.plotting.save_figure`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from bitrobust.reports.comparison import best_per_rate, precisions, rate_symbol
from bitrobust.reports.plotting import LINESTYLES, pyplot, save_figure, series_style
from bitrobust.reports.runs import Run


def rate_axis_label(symbol: str) -> str:
    """The x-axis label for rate symbol "p" (bit errors) or "eps" (L-inf noise).

    >>> rate_axis_label("p")
    'bit error rate p in % (log scale)'
    """
    if symbol == "eps":
        return "L-inf noise eps in % of each tensor's range (log scale)"
    return "bit error rate p in % (log scale)"


def _log_p_axis(ax, runs: Sequence[Run]) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    rates = [r.p for run in runs for r in run.result.rates if r.p > 0]
    if max(rates) / min(rates) < 30:  # less than ~1.5 decades: label the minor ticks too
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(rate_axis_label(rate_symbol(runs)))
    ax.grid(True, which="both", alpha=0.3)


def _save(fig, ax, path: str | Path) -> None:
    """Legend on ``ax`` (beside it when there are many entries), then :func:`save_figure`."""
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) > 4:
        ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  handlelength=3.5)
    else:
        ax.legend(handles, labels, fontsize=8, handlelength=3.5)
    save_figure(fig, path)


def plot_rerr_frontier(runs: Sequence[Run], path: str | Path, ymax: float | None = None,
                       title: str = "Robust test error vs bit error rate") -> None:
    """RErr (mean over chips) vs p, log p axis; per-precision best-per-p frontier in black.

    Left: all models on the full RErr range; right: the same zoomed to the best models
    (up to ``ymax`` % if given), where the differences that matter are visible.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13.0, 4.8), dpi=130)
    best = best_per_rate(runs)
    index = {run.name: i for i, run in enumerate(runs)}
    for ax in axes:
        for i, run in enumerate(runs):
            rates = [r for r in run.result.rates if r.p > 0]
            ax.plot([100 * r.p for r in rates], [100 * r.mean for r in rates], lw=1.2, ms=4, alpha=0.85,
                    label=f"{run.name} (m={run.bits}, Err {100 * run.result.err:.2f}%)", **series_style(i))
        for k, bits in enumerate(precisions(runs)):
            front = [b for b in best if b.bits == bits]
            ax.plot([100 * b.p for b in front], [100 * b.rerr_mean for b in front], color="black",
                    ls=LINESTYLES[k % len(LINESTYLES)], lw=2.2, zorder=4, label=f"best model per p (m={bits})")
            for b in front:
                ax.plot(100 * b.p, 100 * b.rerr_mean, ms=9, mec="black", mew=1.5, zorder=5,
                        **{**series_style(index[b.name]), "linestyle": "none"})
        _log_p_axis(ax, runs)
        ax.set_ylabel("RErr in % (mean over chips)")
    axes[0].set_title(f"{title}: all models", fontsize=10)
    lows = [100 * run.result.err for run in runs] + [100 * b.rerr_mean for b in best]
    highs = [100 * b.rerr_mean for b in best]
    top = ymax if ymax is not None else min(100.0, max(highs) + 0.5 * (max(highs) - min(lows)) + 0.5)
    axes[1].set_ylim(max(0.0, min(lows) - 0.1 * (top - min(lows))), top)
    axes[1].set_title("zoom on the best models (black: best per p; ringed: which model)", fontsize=10)
    _save(fig, axes[1], path)


def plot_confidence(runs: Sequence[Run], path: str | Path,
                    title: str = "Mean confidence, clean vs with bit errors") -> None:
    """Mean max-softmax confidence in % vs p (solid) and on clean weights (dashed)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.6 if len(runs) > 3 else 7.2, 4.6), dpi=130)
    for i, run in enumerate(runs):
        style = series_style(i)
        rates = [r for r in run.result.rates if r.p > 0]
        ax.plot([100 * r.p for r in rates], [100 * r.mean_confidence for r in rates], lw=1.2, ms=4,
                label=f"{run.name} (m={run.bits}; clean {100 * run.result.confidence:.1f}%)", **style)
        ax.axhline(100 * run.result.confidence, color=style["color"], ls="--", lw=0.9)
    _log_p_axis(ax, runs)
    ax.set_ylabel("mean confidence in % (max softmax)")
    ax.set_title(f"{title}\n(solid: with bit errors, mean over chips; dashed: clean weights)", fontsize=10)
    _save(fig, ax, path)
