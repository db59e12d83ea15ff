"""Original vs perturbed weights under random bit errors (paper 3, Fig. 4).

From each model's ``weight_errors.json`` (the ``weight_errors`` evaluation): one scatter
panel per model and rate, the clean quantized weight (x) against the weight read back with
bit errors (y), coloured by the absolute error from 0 to the model's largest weight
magnitude (about q_max: the error of a most-significant-bit flip, yellow in Fig. 4), and a
table of the fraction of weights changed and the mean / largest absolute errors (absolute,
and relative to the largest weight magnitude, so clipped and unclipped models compare).
"""

from __future__ import annotations

from pathlib import Path

from bitrobust.io import write_json, write_text
from bitrobust.reports.experiment_input import SectionInput
from bitrobust.reports.plotting import pyplot, save_figure
from bitrobust.reports.text import csv_text, markdown_table, pct


def _scheme_text(res: dict) -> str:
    """The stored format of a result: ``per_tensor, asymmetric, unsigned, round`` or ``format bf16``.

    >>> _scheme_text({"scheme": {"range": "global", "symmetric": True, "signed": True, "rounding": "trunc"}})
    'global, symmetric, signed, trunc'
    >>> _scheme_text({"format": "bf16"})
    'format bf16'
    """
    if "format" in res:
        return f"format {res['format']}"
    scheme = res["scheme"]
    return ", ".join([scheme["range"], "symmetric" if scheme["symmetric"] else "asymmetric",
                      "signed" if scheme["signed"] else "unsigned", scheme["rounding"]])


def plot_weight_errors(panels: list[tuple[str, dict, dict]], path: Path, title: str) -> None:
    """One scatter per (label, result, rate entry): clean quantized vs perturbed weight, colour = |error|."""
    plt = pyplot()
    n = len(panels)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.9 * nrows), dpi=120, squeeze=False)
    for k, (label, res, rate) in enumerate(panels):
        ax = axes[k // ncols][k % ncols]
        x, y = zip(*[(a, b) for a, b in zip(res["quantized"], rate["perturbed"]) if b is not None]) or ((), ())
        x, y = list(x), list(y)
        err = [abs(b - a) for a, b in zip(x, y)]
        order = sorted(range(len(err)), key=err.__getitem__)  # large errors drawn last, on top
        vmax = res["max_abs"] or 1.0
        sc = ax.scatter([x[i] for i in order], [y[i] for i in order], c=[err[i] for i in order], s=4, cmap="viridis",
                        vmin=0, vmax=vmax, rasterized=True)
        lim = max(max(map(abs, x + y), default=1.0), 1e-12) * 1.05
        ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=0.6, zorder=0)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_title(f"{label}\nm={res['bits']}, p={100 * rate['p']:g}%: {100 * rate['changed']:.1f}% changed",
                     fontsize=8.5)
        ax.set_xlabel("original (quantized) weight", fontsize=8)
        ax.set_ylabel("weight with bit errors", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        fig.colorbar(sc, ax=ax, fraction=0.05, pad=0.02).set_label("absolute error (max: largest |w|)", fontsize=7)
    for k in range(n, nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def weight_errors_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """weight_errors.md, .csv (the plotted sample), .json and .png in ``out``; returns the lines of report.md and
    the results' part."""
    out.mkdir(parents=True, exist_ok=True)
    entries = [(e.label, str(e.run_dir), e.evaluations[0].result) for e in section.entries]
    body, rows, panels = [], [], []
    for label, run_dir, res in entries:
        for rate in res["rates"]:
            panels.append((label, res, rate))
            body.append([label, str(res["bits"]), _scheme_text(res), f"{100 * rate['p']:g}",
                         pct(rate["changed"]), f"{rate['mean_abs_error']:.4g}", f"{rate['max_abs_error']:.4g}",
                         f"{res['max_abs']:.4g}", pct(rate["mean_relative_error"], 3)])
            rows.append({"model": label, "run": run_dir, "bits": res["bits"],
                         **{k: res[k] for k in ("scheme", "format") if k in res},
                         "max_abs": res["max_abs"], "n_weights": res["n_weights"], "chip": res["chip"],
                         **{k: v for k, v in rate.items() if k != "perturbed"}})
    head = ["Model", "m", "scheme", "p in %", "weights changed in %", "mean abs error", "max abs error",
            "largest abs w", "mean abs error / largest abs w in %"]
    table = markdown_table(head, body, "---|---:|---|" + "---:|" * (len(head) - 3))
    explain = ("Bit errors of random chip 0 in the stored words, decoded (Fig. 4). Errors over all weights of the "
               "model (words that decode to inf/NaN, possible in float formats, are counted as changed and left out "
               "of the errors); the scatter shows a uniform sample of the weights (`weight_errors.csv`), coloured by the "
               "absolute error from 0 to the model's largest weight magnitude (the error of a flipped most "
               "significant bit is about q_max).")
    write_text(out / "weight_errors.md", "\n".join([f"# {reproduces}: {section.title}", "", explain, ""] + table) + "\n")
    csv_rows = [["model", "p", "index", "tensor", "original", "quantized", "perturbed"]]
    for label, res, rate in panels:
        csv_rows += [[label, rate["p"], i, res["tensors"][t], o, q, y] for i, t, o, q, y in
                     zip(res["index"], res["tensor"], res["original"], res["quantized"], rate["perturbed"])]
    write_text(out / "weight_errors.csv", csv_text(csv_rows))
    data = {"rows": rows}
    write_json(out / "weight_errors.json", data)
    plot_weight_errors(panels, out / "weight_errors.png", section.title)
    lines = [explain, ""] + table + ["", f"Files: [{out.name}/weight_errors.md]({out.name}/weight_errors.md), "
                                     "`weight_errors.csv` (the plotted sample).", "",
                                     f"![original vs perturbed weights]({out.name}/weight_errors.png)", ""]
    return lines, data
