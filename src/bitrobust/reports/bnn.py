"""Plots of the BNN bit error tolerance metrics: T^b over b, and neuron importance Pi per layer.

``plot_tolerance`` draws the bottom row of paper 1's Fig. 1 (and paper 2's Fig. 1):
T^b against b on a log2 axis, one curve per model. ``plot_importance`` draws paper 1's
Fig. 2: the importance Pi[n] of every hidden neuron against its index, one panel per
hidden layer (shared Pi axis) and one colour per model when several are compared.
Figures are written atomically as PNG with the Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import torch

from bitrobust.io import atomic_path
from bitrobust.reports.figures import series_style


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> None:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _values(v: torch.Tensor | Sequence[float]) -> list[float]:
    return v.detach().cpu().tolist() if isinstance(v, torch.Tensor) else [float(x) for x in v]


def plot_tolerance(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    title: str = "Neuron-level bit error tolerance $T^b$",
) -> None:
    """T^b against b (log2 axis) for each ``name -> (bs, values)``; T-bar in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    all_bs: set[float] = set()
    for i, (name, (bs, values)) in enumerate(curves.items()):
        bs, values = [float(b) for b in bs], [float(v) for v in values]
        all_bs.update(bs)
        t_bar = sum(values) / len(values) if values else float("nan")
        ax.plot(bs, values, **series_style(i), label=f"{name} ($\\bar{{T}}$ = {t_bar:.3f})")
    positive = sorted(b for b in all_bs if b > 0)
    if positive:
        ax.set_xscale("log", base=2)
        ax.set_xticks(positive)
        ax.set_xticklabels([f"{b:g}" for b in positive])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("b (log$_2$ scale); a neuron with T $\\geq$ b tolerates $\\lfloor b/2 \\rfloor$ weight flips")
    ax.set_ylabel("$T^b$: share of neurons with T $\\geq$ b")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_importance(
    models: Mapping[str, Sequence[torch.Tensor | Sequence[float]]],
    path: str | Path,
    layer_names: Sequence[str] | None = None,
    title: str = "Neuron importance $\\Pi$ per hidden neuron",
) -> None:
    """Pi[n] against the neuron index, one panel per hidden layer, for each ``name -> [Pi of layer 1, ...]``.

    Panels share the Pi axis; each model has its own colour and marker (paper 1, Fig. 2:
    regular vs. flip-trained BNNs), with its VAR(Pi) over all hidden neurons in the legend.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n_layers = max((len(layers) for layers in models.values()), default=1) or 1
    widths = [max((len(_values(layers[j])) for layers in models.values() if j < len(layers)), default=1)
              for j in range(n_layers)]
    ratios = [max(1.0, min(4.0, w / 64) ** 0.5) for w in widths]  # wider layers get wider (not huge) panels
    fig, axes = plt.subplots(
        1, n_layers, figsize=(min(4.0 + 2.8 * sum(ratios), 16.0), 4.4), dpi=120, sharey=True,
        gridspec_kw={"width_ratios": ratios}, squeeze=False,
    )
    axes = axes[0]
    for i, (name, layers) in enumerate(models.items()):
        flat = [v for layer in layers for v in _values(layer)]
        mean = sum(flat) / len(flat) if flat else 0.0
        var = sum((v - mean) ** 2 for v in flat) / len(flat) if flat else float("nan")
        label = f"{name}: VAR($\\Pi$) = {var:.3g} ({len(flat)} neurons)"
        style = series_style(i)
        for j, layer in enumerate(layers):
            values = _values(layer)
            size = 18 if len(values) <= 64 else (8 if len(values) <= 512 else 3)
            axes[j].scatter(
                range(len(values)), values, s=size, color=style["color"], marker=style["marker"],
                alpha=0.75, linewidths=0, label=label if j == 0 else None,
            )
    for j, ax in enumerate(axes):
        ax.axhline(0.0, color="gray", lw=0.8, ls="--")
        name = layer_names[j] if layer_names is not None and j < len(layer_names) else f"layer {j + 1}"
        ax.set_title(f"{name} ({widths[j]} neurons)", fontsize=9)
        ax.set_xlabel("neuron index")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(-0.5 - 0.02 * widths[j], widths[j] - 0.5 + 0.02 * widths[j])
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("$\\Pi[n]$ = (A - A*) / A")
    fig.suptitle(title, fontsize=11)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 2), fontsize=8, markerscale=2,
               bbox_to_anchor=(0.5, 0.0), frameon=False)
    fig.tight_layout(rect=(0, 0.06 * ((len(labels) + 1) // 2), 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
