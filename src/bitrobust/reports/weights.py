"""Weight distributions and redundancy measures of quantized DNNs (paper 3, Fig. 10 and App. G.3).

From the weight statistics of each model (``weights.json``, written by the ``weights``
evaluation): histograms of the quantized weights relative to the reference w_max (or
the largest weight magnitude without clipping) for selected tensors, the weight
relevance sum_i |w_i| / max_i |w_i| per weight, the ReLU relevance, and the relative
logit error under random bit errors. The ``weights`` section of an experiment report
renders them as a table (Markdown, CSV, JSON), histograms and a bar chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from bitrobust.io import write_json, write_text
from bitrobust.reports.experiment_input import SectionInput
from bitrobust.reports.plotting import pyplot, save_figure
from bitrobust.reports.text import csv_text, markdown_table, pct


def weight_groups(stats: Mapping[str, Any]) -> dict[str, tuple[list[int], float | None]]:
    """Selected tensors of Fig. 10 (first/last conv weights, logit weights and biases, norm params):
    name -> (summed histogram, weight relevance per weight; None for norm params).

    >>> t = lambda name, kind: {"name": name, "kind": kind, "hist": [1, 2], "weight_relevance": 3.0, "numel": 6}
    >>> weight_groups({"tensors": [t("conv.weight", "conv"), t("fc.weight", "linear"), t("fc.bias", "linear")]})
    {'first conv weights': ([1, 2], 0.5), 'logit weights': ([1, 2], 0.5), 'logit biases': ([1, 2], 0.5)}
    """
    tensors = stats["tensors"]
    convs = [t for t in tensors if t["kind"] == "conv" and t["name"].endswith("weight")]
    linears = [t for t in tensors if t["kind"] == "linear"]
    logit_w = [t for t in linears if t["name"].endswith("weight")][-1:]
    logit_b = [t for t in linears if t["name"].endswith("bias") and logit_w and
               t["name"].rsplit(".", 1)[0] == logit_w[0]["name"].rsplit(".", 1)[0]]
    norms = [t for t in tensors if t["kind"] == "norm"]
    groups = {}
    for name, ts in (("first conv weights", convs[:1]), ("last conv weights", convs[-1:] if len(convs) > 1 else []),
                     ("logit weights", logit_w), ("logit biases", logit_b), ("normalization parameters", norms)):
        if ts:
            hist = [sum(t["hist"][i] for t in ts) for i in range(len(ts[0]["hist"]))]
            rel = sum(t["weight_relevance"] for t in ts) / sum(t["numel"] for t in ts) if name != "normalization parameters" else None
            groups[name] = (hist, rel)
    return groups


def weights_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """redundancy.md, weights.csv, redundancy.json, weights.png and redundancy.png in ``out``; returns the
    lines of ``report.md`` and the results' part."""
    rows = [(e.label, e.run_dir, e.evaluations[0].result) for e in section.entries]
    groups = {label: weight_groups(st) for label, _, st in rows}
    names = list(dict.fromkeys(g for gs in groups.values() for g in gs))
    rel_cols = [g for g in names if g != "normalization parameters"]
    head = ["Model", "reference", "weight relevance (all)"] + [f"weight relevance ({g})" for g in rel_cols] + ["ReLU relevance in %"]
    rae_p = next((st["relative_error_p"] for _, _, st in rows if "relative_error_p" in st), None)
    if rae_p is not None:
        head.append(f"relative logit error at p={100 * rae_p:g}% in %")
    body = []
    for label, _, st in rows:
        ref = f"{'w_max' if st['reference_is_w_max'] else 'max abs w'} = {st['reference']:.4g}"
        rels = [f"{groups[label][g][1]:.3f}" if g in groups[label] and groups[label][g][1] is not None else "-" for g in rel_cols]
        relu = "n/a" if st["relu_relevance"] is None else pct(st["relu_relevance"], 1)
        rae = [pct(st["relative_error"], 1) if "relative_error" in st else "-"] if rae_p is not None else []
        body.append([label, ref, f"{st['weight_relevance_fraction']:.3f}"] + rels + [relu] + rae)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(head, body, "---|---|" + "---:|" * (len(head) - 2))
    explain = ("Weight relevance: sum_i abs(w_i) / max_i abs(w_i) per tensor, divided by the number of weights (1 = all "
               "weights at full magnitude); ReLU relevance: fraction of non-zero activations after the last ReLU on "
               "the test set; relative error: sum_x ||z_c(x) - z(x)||_1 / sum_x ||z(x)||_1 of the logits z, bit errors of "
               "persistent chip c injected, mean over chips (our reading; the paper gives no formula). Histograms: quantized weights / reference (w_max with clipping, else the largest weight magnitude).")
    write_text(out / "redundancy.md", "\n".join([f"# {reproduces}: {section.title}", "", explain, ""] + table) + "\n")
    csv_rows = [["model", "run", "tensor", "kind", "numel", "max_abs", "weight_relevance", "weight_relevance_fraction"]]
    for label, run_dir, st in rows:
        csv_rows += [[label, str(run_dir), t["name"], t["kind"], t["numel"], t["max_abs"], t["weight_relevance"],
                      t["weight_relevance_fraction"]] for t in st["tensors"]]
    write_text(out / "weights.csv", csv_text(csv_rows))
    data = {"rows": [{"model": label, "run": str(run_dir), **{k: v for k, v in st.items() if k != "tensors"},
                      "groups": {g: {"hist": h, "weight_relevance_fraction": r} for g, (h, r) in groups[label].items()}}
                     for label, run_dir, st in rows]}
    write_json(out / "redundancy.json", data)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names) + 1, 3.6), dpi=120, squeeze=False)
    for j, g in enumerate(names):
        ax = axes[0][j]
        for i, (label, _, st) in enumerate(rows):
            if g not in groups[label]:
                continue
            hist = groups[label][g][0]
            total = sum(hist) or 1
            bins = st["hist_bins"]
            edges = [-1 + 2 * k / bins for k in range(bins + 1)]
            ax.stairs([h / total for h in hist], edges, color=f"C{i % 10}", label=label, lw=1.2)
        ax.set_title(g, fontsize=9)
        ax.set_xlabel("w / reference")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("fraction of weights")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(section.title, fontsize=10)
    save_figure(fig, out / "weights.png")
    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120, gridspec_kw={"width_ratios": [2, 1]})
    x = list(range(len(rows)))
    labels = [label for label, _, _ in rows]
    ax.bar([i - 0.2 for i in x], [st["weight_relevance_fraction"] for _, _, st in rows], 0.4, label="weight relevance / #weights")
    ax.bar([i + 0.2 for i in x], [st["relu_relevance"] or 0 for _, _, st in rows], 0.4, label="ReLU relevance")
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction")
    ax.legend(fontsize=8)
    ax.set_title("redundancy measures (Fig. 10 bottom right)", fontsize=10)
    ax_err.bar(x, [100 * (st.get("relative_error") or 0) for _, _, st in rows], 0.6, color="C3")
    ax_err.set_ylabel("relative logit error in %")
    ax_err.set_title(f"random bit errors, p = {100 * (rae_p or 0):g}%", fontsize=10)
    for a in (ax, ax_err):
        a.set_xticks(x)
        a.set_xticklabels(labels, fontsize=7, rotation=20, ha="right")
        a.grid(True, axis="y", alpha=0.3)
    save_figure(fig, out / "redundancy.png")
    lines = [explain, ""] + table + ["", f"Files: [{out.name}/redundancy.md]({out.name}/redundancy.md), `weights.csv` "
                                     "(per tensor), `redundancy.json` (with histograms).", "",
                                     f"![weight histograms]({out.name}/weights.png)", "",
                                     f"![redundancy]({out.name}/redundancy.png)", ""]
    return lines, data
