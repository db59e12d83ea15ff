"""Reports of the BNN bit error tolerance metrics: T^b over b, neuron importance Pi, VAR(Pi) tables.

``plot_tolerance`` draws the bottom row of paper 1's Fig. 1 (and paper 2's Fig. 1):
T^b against b on a log2 axis, one curve per model. ``plot_importance`` draws paper 1's
Fig. 2: the importance Pi[n] of every hidden neuron against its index, one panel per
hidden layer (shared Pi axis) and one colour per model when several are compared.
The experiment report sections: ``bnn_curves`` (accuracy over BER beside T^b, papers
1/2, Fig. 1; paper 2, Fig. 2; with the paired comparisons of contract 8), ``bnn_importance`` (paper 1, Fig. 2) and ``bnn_table``
(VAR(Pi) and T-bar over widths x training BERs, paper 1, Table III).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.io import write_json, write_text
from bitrobust.reports.experiment_input import SectionInput
from bitrobust.reports.paired import (
    MetricComparison,
    comparisons_json,
    comparisons_markdown,
    metric_comparison,
    metric_json,
    metric_markdown,
    section_comparisons,
    section_models,
    section_pairs,
    write_comparisons,
)
from bitrobust.reports.plotting import pyplot, save_figure, series_style
from bitrobust.reports.text import csv_text, markdown_table, pct


def _values(v: torch.Tensor | Sequence[float]) -> list[float]:
    return v.detach().cpu().tolist() if isinstance(v, torch.Tensor) else [float(x) for x in v]


def plot_tolerance(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    title: str = "Neuron-level bit error tolerance $T^b$",
) -> None:
    """T^b against b (log2 axis) for each ``name -> (bs, values)``; T-bar in the legend."""
    fig, ax = pyplot().subplots(figsize=(6.4, 4.2), dpi=120)
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
    save_figure(fig, path)


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
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
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
    save_figure(fig, path, rect=(0, 0.06 * ((len(labels) + 1) // 2), 1, 1))


# -- experiment report sections ---------------------------------------------------------------


def bnn_curves_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """Accuracy over BER (the evaluation) and T^b over b (the extra evaluation, if any) per model:
    table.md, .csv, .json and curves.png in ``out``; returns the lines of ``report.md`` and the results' part."""
    rows = [(e.label, e.run_dir, RobustnessResult.from_dict(e.evaluations[0].result), e.extra[0].result if e.extra else None)
            for e in section.entries]
    rates = sorted({r.p for _, _, res, _ in rows for r in res.rates if r.p > 0})
    bs = rows[0][3]["bs"] if rows and rows[0][3] else []
    head = ["Model", "Err in %"] + [f"Acc p={100 * p:g}%" for p in rates] + ["T-bar"] + [f"T^{b:g}" for b in bs]
    body = []
    for label, _, res, m in rows:
        accs = []
        for p in rates:
            try:
                accs.append(pct(1 - res.rate(p).mean, 1))
            except KeyError:
                accs.append("-")
        tb = [f"{m['T_bar']:.3f}"] + [f"{v:.3f}" for v in m["T"]] if m else ["-"] * (1 + len(bs))
        body.append([label, pct(res.err)] + accs + tb)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(head, body)
    source = rows[0][2].source if rows else ""
    write_text(out / "table.md", "\n".join([f"# {reproduces}: {section.title}", "",
                                            f"Accuracy in % under {source} bit errors "
                                            "(mean over trials), T^b on the test set.", ""] + table) + "\n")
    csv_rows = [["model", "run", "kind", "x", "value"]]
    for label, run_dir, res, m in rows:
        csv_rows.append([label, str(run_dir), "accuracy", 0.0, 1 - res.err])
        csv_rows += [[label, str(run_dir), "accuracy", r.p, 1 - r.mean] for r in res.rates if r.p > 0]
        if m:
            csv_rows += [[label, str(run_dir), "T^b", b, v] for b, v in zip(m["bs"], m["T"])]
    write_text(out / "table.csv", csv_text(csv_rows))
    data = {"rates": rates, "bs": bs, "rows": [
        {"model": label, "run": str(run_dir), "errors": res.source, "err": res.err,
         "accuracy": [{"p": r.p, "mean": 1 - r.mean, "std": r.std} for r in res.rates if r.p > 0],
         "T": m["T"] if m else None, "T_bar": m["T_bar"] if m else None, "var_pi": m["var_pi"] if m else None}
        for label, run_dir, res, m in rows
    ]}
    write_json(out / "table.json", data)
    fig, axes = pyplot().subplots(1, 2, figsize=(12.0, 4.4), dpi=120)
    for i, (label, _, res, m) in enumerate(rows):
        ps = [0.0] + [100 * r.p for r in res.rates if r.p > 0]
        acc = [100 * (1 - res.err)] + [100 * (1 - r.mean) for r in res.rates if r.p > 0]
        axes[0].plot(ps, acc, ms=3, **series_style(i), label=label)
        if m:
            axes[1].plot(m["bs"], m["T"], ms=3, **series_style(i), label=f"{label} (T-bar {m['T_bar']:.3f})")
    axes[0].set_xlabel("bit error rate p in %")
    axes[0].set_ylabel("test accuracy in %")
    axes[0].set_title(f"accuracy over BER ({source} errors)", fontsize=10)
    axes[1].set_xscale("log", base=2)
    if bs:
        axes[1].set_xticks(bs)
        axes[1].set_xticklabels([f"{b:g}" for b in bs])
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_xlabel("b (log2 scale)")
    axes[1].set_ylabel("$T^b$")
    axes[1].set_title("neuron-level bit error tolerance $T^b$", fontsize=10)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(section.title, fontsize=11)
    save_figure(fig, out / "curves.png")
    comparisons = section_comparisons(section, lambda e: {"": RobustnessResult.from_dict(e.evaluations[0].result)})
    write_comparisons(comparisons, out)
    data["paired"] = comparisons_json(comparisons)
    lines = table + ["", f"Files: [{out.name}/table.md]({out.name}/table.md), `table.csv`, `table.json`, `paired.csv`.", "",
                     "Paired comparisons of the error under bit errors (RErr = 100 - accuracy; l: reads, the same "
                     "for every model):", ""]
    lines += comparisons_markdown(comparisons) + [f"![accuracy over BER and T^b]({out.name}/curves.png)", ""]
    return lines, data


def bnn_importance_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """VAR(Pi) and T-bar per model and layer, Pi per neuron (paper 1, Fig. 2): table.md, importance.csv,
    table.json and importance.png in ``out``; returns the lines of ``report.md`` and the results' part."""
    rows = [(e.label, e.run_dir, e.evaluations[0].result) for e in section.entries]
    head = ["Model", "Err in %", "VAR(Pi)", "T-bar"] + [f"VAR(Pi) layer {i + 1}" for i in range(len(rows[0][2]["layers"]))]
    body = [[label, pct(m["test_error"]), f"{m['var_pi']:.3g}", f"{m['T_bar']:.3f}"] + [f"{l['var_pi']:.3g}" for l in m["layers"]]
            for label, _, m in rows]
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(head, body)
    write_text(out / "table.md", "\n".join([f"# {reproduces}: {section.title}", ""] + table) + "\n")
    csv_rows = [["model", "run", "layer", "neuron", "pi"]]
    for label, run_dir, m in rows:
        for layer in m["layers"]:
            csv_rows += [[label, str(run_dir), layer["layer"], n, v] for n, v in enumerate(layer["pi"])]
    write_text(out / "importance.csv", csv_text(csv_rows))
    data = {"rows": [{"model": label, "run": str(run_dir), "err": m["test_error"], "var_pi": m["var_pi"],
                      "T_bar": m["T_bar"], "layers": [{k: l[k] for k in ("layer", "name", "neurons", "var_pi")} for l in m["layers"]]}
                     for label, run_dir, m in rows]}
    write_json(out / "table.json", data)
    layer_names = [f"layer {l['layer']}: {l['name']}" for l in rows[0][2]["layers"]]
    plot_importance({label: [torch.tensor(l["pi"]) for l in m["layers"]] for label, _, m in rows}, out / "importance.png",
                    layer_names, title=f"Neuron importance $\\Pi$: {section.title}")
    comparisons = [metric_comparison(a.name, b.name, [e.evaluations[0].result["var_pi"] for e in a.entries],
                                     [e.evaluations[0].result["var_pi"] for e in b.entries])
                   for a, b in section_pairs(section, section_models(section)) if a.seeds == b.seeds]
    data["paired"] = metric_json(comparisons, "var_pi")
    lines = table + ["", f"Files: [{out.name}/table.md]({out.name}/table.md), `importance.csv` (Pi per neuron), "
                     "`table.json`.", "", "Paired comparison of VAR(Pi) over training seeds:", ""]
    lines += metric_markdown(comparisons, "VAR(Pi)") + [f"![Pi per neuron]({out.name}/importance.png)", ""]
    return lines, data


def table3_cells(section: SectionInput) -> tuple[list[str], list[float], dict[tuple[str, float], dict[str, Any]]]:
    """(widths, training BERs ascending, (width, BER) -> mean and range over repetitions of VAR(Pi), T-bar, Err).

    >>> from bitrobust.reports.experiment_input import Evaluation, RunEntry
    >>> entries = tuple(RunEntry("8,8", Path(f"runs/{i}"), (Evaluation({"var_pi": v, "T_bar": 0.5, "test_error": 0.2}),),
    ...                          tags={"neurons": "8,8", "ber": 5}) for i, v in enumerate((0.01, 0.03)))
    >>> widths, bers, cells = table3_cells(SectionInput("fc", "FC", "bnn_table", entries))
    >>> widths, bers, cells[("8,8", 5.0)]["var_pi_mean"], cells[("8,8", 5.0)]["repeats"]
    (['8,8'], [5.0], 0.02, 2)
    """
    metrics: dict[tuple[str, float], list] = {}
    order_n: list[str] = []
    order_b: list[float] = []
    for entry in section.entries:
        n, b = str(entry.tags.get("neurons", entry.key)), float(entry.tags.get("ber", 0))
        if n not in order_n:
            order_n.append(n)
        if b not in order_b:
            order_b.append(b)
        metrics.setdefault((n, b), []).append(entry.evaluations[0].result)
    order_b.sort()

    def agg(ms: list) -> dict:
        v = [m["var_pi"] for m in ms]
        t = [m["T_bar"] for m in ms]
        e = [m["test_error"] for m in ms]
        return {"repeats": len(ms), "var_pi_mean": sum(v) / len(v), "var_pi_max": max(v), "var_pi_min": min(v),
                "T_bar_mean": sum(t) / len(t), "T_bar_min": min(t), "T_bar_max": max(t), "err_mean": sum(e) / len(e)}

    return order_n, order_b, {k: agg(v) for k, v in metrics.items()}


def bnn_table_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """Paper 1, Table III: table.md, .csv, .json and table.png in ``out``; returns the lines of
    ``report.md`` and the results' part."""
    order_n, order_b, summary = table3_cells(section)
    head = ["Neurons", "Metric"] + [f"BER {b:g}%" for b in order_b]
    body = []
    for n in order_n:
        pis, ts, errs = [], [], []
        for b in order_b:
            s = summary.get((n, b))
            if s is None:
                pis.append("-"), ts.append("-"), errs.append("-")
                continue
            rng = s["repeats"] > 1
            pis.append(f"{s['var_pi_mean']:.3g}" + (f" ({s['var_pi_max']:.3g}, {s['var_pi_min']:.3g})" if rng else ""))
            ts.append(f"{s['T_bar_mean']:.3f}" + (f" ({s['T_bar_min']:.3f}, {s['T_bar_max']:.3f})" if rng else ""))
            errs.append(pct(s["err_mean"]))
        body += [[n, "Pi-bar = mean VAR(Pi)"] + pis, ["", "T-bar"] + ts, ["", "Err in %"] + errs]
    table = markdown_table(head, body, "---|---|" + "---:|" * len(order_b))
    out.mkdir(parents=True, exist_ok=True)
    reps = max((s["repeats"] for s in summary.values()), default=1)
    write_text(out / "table.md", "\n".join([
        f"# {reproduces}: {section.title}", "",
        f"Mean over {reps} repetition(s); with more than one, VAR(Pi) is followed by (max, min) and T-bar by "
        "(min, max) as in the paper. BER: the bit error rate during training.", ""] + table) + "\n")
    csv_rows = [["neurons", "ber", "repeats", "var_pi_mean", "var_pi_max", "var_pi_min", "T_bar_mean", "T_bar_min",
                 "T_bar_max", "err_mean"]]
    for (n, b), s in summary.items():
        csv_rows.append([n, b] + [s[k] for k in csv_rows[0][2:]])
    write_text(out / "table.csv", csv_text(csv_rows))
    comparisons = table3_comparisons(section)
    data = {"cells": [{"neurons": n, "ber": b, **s} for (n, b), s in summary.items()],
            "paired": metric_json(comparisons, "var_pi")}
    write_json(out / "table.json", data)
    fig, axes = pyplot().subplots(1, 2, figsize=(11.0, 4.2), dpi=120)
    for i, n in enumerate(order_n):
        bb = [b for b in order_b if (n, b) in summary]
        axes[0].plot(bb, [summary[(n, b)]["var_pi_mean"] for b in bb], **series_style(i), label=n)
        axes[1].plot(bb, [summary[(n, b)]["T_bar_mean"] for b in bb], **series_style(i), label=n)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("mean VAR($\\Pi$)")
    axes[1].set_ylabel("T-bar")
    for ax in axes:
        ax.set_xlabel("bit error rate during training in %")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, title="neurons", title_fontsize=7)
    fig.suptitle(section.title, fontsize=11)
    save_figure(fig, out / "table.png")
    lines = table + ["", f"Files: [{out.name}/table.md]({out.name}/table.md), `table.csv`, `table.json`.", ""]
    if comparisons:
        lines += ["VAR(Pi) at each training BER against BER 0, for the widths with several repetitions:", ""]
        lines += metric_markdown(comparisons, "VAR(Pi)")
    lines += [f"![VAR(Pi) and T-bar over BER]({out.name}/table.png)", ""]
    return lines, data


def table3_comparisons(section: SectionInput) -> list[MetricComparison]:
    """Per width with more than one repetition: VAR(Pi) at each training BER > 0 against BER 0, paired by seed.

    >>> from bitrobust.reports.experiment_input import Evaluation, RunEntry
    >>> def entry(ber, seed, v):
    ...     return RunEntry("x", Path("r"), (Evaluation({"var_pi": v}),), tags={"neurons": "8,8", "ber": ber}, seed=seed)
    >>> entries = (entry(0, 0, 1.0), entry(0, 1, 1.1), entry(5, 0, 2.0), entry(5, 1, 2.2))
    >>> [(c.a, c.b, c.diff.seeds) for c in table3_comparisons(SectionInput("fc", "FC", "bnn_table", entries))]
    [('8,8 BER 5%', '8,8 BER 0%', 2)]
    """
    cells: dict[tuple[str, float], list] = {}
    for entry in section.entries:
        key = (str(entry.tags.get("neurons", entry.key)), float(entry.tags.get("ber", 0)))
        cells.setdefault(key, []).append(entry)
    out = []
    for (n, b), entries in cells.items():
        base = cells.get((n, 0.0), [])
        if b == 0 or len(entries) < 2 or len(base) != len(entries):
            continue
        values = [[e.evaluations[0].result["var_pi"] for e in sorted(es, key=lambda e: e.seed or 0)] for es in (entries, base)]
        out.append(metric_comparison(f"{n} BER {b:g}%", f"{n} BER 0%", *values))
    return out
