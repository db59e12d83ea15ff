"""The report of one experiment: a Markdown summary, JSON results, and per section tables and figures.

``OUT/NAME/report.md`` has one part per section (a compact table in the paper's layout,
its notes and figures); ``OUT/NAME/results.json`` the numbers behind it. Each section's
directory ``OUT/NAME/<section>/`` holds its full tables (Markdown, CSV, JSON) and PNG
figures. Section kinds:

- ``rerr``: :func:`bitrobust.reports.tables.write_report` (RErr per p with the Prop. 1
  bound, best model per p and precision, the Fig. 7 frontier plot, confidences);
- ``profiled``: RErr per model and profiled chip (paper 3, Tab. 5/15) and a bar chart;
- ``bnn_curves``: accuracy over BER and T^b over b side by side (papers 1/2, Fig. 1;
  paper 2, Fig. 2);
- ``bnn_importance``: Pi per hidden neuron (paper 1, Fig. 2) via
  :func:`bitrobust.reports.bnn.plot_importance`;
- ``bnn_table``: VAR(Pi) and T-bar over widths x training BERs, mean (and range) over
  repetitions (paper 1, Table III);
- ``weights``: weight histograms relative to w_max and the redundancy measures of
  paper 3, Fig. 10.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bitrobust.version import __version__
from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.experiments.plan import Plan, PlannedEval, PlannedRun
from bitrobust.experiments.spec import Section
from bitrobust.io import atomic_path, read_json, write_json, write_text
from bitrobust.reports.figures import series_style
from bitrobust.reports.runs import Run


def pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _csv(rows: list[list]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _table(head: list[str], body: list[list[str]], align: str | None = None) -> list[str]:
    align = align or ("---|" + "---:|" * (len(head) - 1))
    return ["| " + " | ".join(head) + " |", "|" + align] + ["| " + " | ".join(str(c) for c in row) + " |" for row in body]


def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def _entries(plan: Plan, section: Section, eval_key: str | None = None) -> list[tuple[str, PlannedRun, list[PlannedEval], list[PlannedEval]]]:
    """(label, run, evaluations, extra evaluations) per row and repeat of ``section``."""
    out = []
    for row in plan.section_rows(section):
        key = eval_key or row.eval or section.eval
        for run in plan.runs[row.run]:
            label = row.label or run.spec.label
            if run.seed_index is not None:
                label += f" (seed {run.seed_index})"
            extra = plan.evals.get((run.key, section.extra_eval), []) if section.extra_eval else []
            out.append((label, run, plan.evals[(run.key, key)], extra))
    labels = _unique([e[0] for e in out])
    return [(label, *rest) for label, (_, *rest) in zip(labels, out)]


def _result(ev: PlannedEval) -> RobustnessResult:
    return RobustnessResult.from_dict(read_json(ev.result_file, "robustness result"))


# ----------------------------------------------------------------------------- rerr


def _rerr_section(plan: Plan, section: Section, out: Path) -> tuple[list[str], dict]:
    from bitrobust.reports.tables import ReportSettings, best_per_rate, rate_symbol, report_rates, write_report

    runs = [Run(label, run.run_dir, _result(evs[0]), run.config_dict) for label, run, evs, _ in _entries(plan, section)]
    exp = plan.experiment
    paths = write_report(runs, out, ReportSettings(title=f"{exp.reproduces}: {section.title}"))
    sym = rate_symbol(runs)
    rates = report_rates(runs)
    best = {(b.bits, b.p): b.name for b in best_per_rate(runs)}
    head = ["Model", "m", "Err in %"]
    if section.confidence:
        head.append("Conf in %")
    head += [f"RErr {sym}={100 * p:g}%" for p in rates]
    if section.confidence:
        head += [f"Conf {sym}={100 * p:g}%" for p in rates]
    body = []
    for run in runs:
        res = run.result
        cells = [run.name, str(run.bits), pct(res.err)] + ([pct(res.confidence)] if section.confidence else [])
        confs = []
        for p in rates:
            try:
                r = res.rate(p)
            except KeyError:
                cells.append("-")
                confs.append("-")
                continue
            mean = pct(r.mean)
            cells.append(f"**{mean}** ± {pct(r.std)}" if best.get((run.bits, p)) == run.name else f"{mean} ± {pct(r.std)}")
            confs.append(pct(r.mean_confidence))
        body.append(cells + (confs if section.confidence else []))
    lines = _table(head, body)
    lines += ["", f"**Bold**: lowest mean RErr at that {sym} among the models of the same precision m. "
              f"Full tables (Prop. 1 bounds, best model per {sym}, CSV, JSON): [{out.name}/report.md]({out.name}/report.md).",
              "", f"![RErr vs {sym}]({out.name}/{paths[3].name})", ""]
    if section.confidence:
        lines += [f"![confidence]({out.name}/{paths[4].name})", ""]
    data = {"rates": rates, "rows": [
        {"model": run.name, "run": str(run.path), "bits": run.bits, "errors": run.result.source, "err": run.result.err,
         "confidence": run.result.confidence, "n_examples": run.result.n_examples, "trials": run.result.trials,
         "rates": [r.summary() for r in run.result.rates if r.p > 0]}
        for run in runs
    ]}
    return lines, data


# ----------------------------------------------------------------------------- profiled chips


def _profiled_section(plan: Plan, section: Section, out: Path) -> tuple[list[str], dict]:
    entries = _entries(plan, section)
    chips: list[tuple[str, float]] = []
    rows = []
    for label, run, evs, _ in entries:
        cells = {}
        err = None
        for ev in evs:
            res = _result(ev)
            err = res.err
            r = res.rates[0]
            name = ev.settings.chip
            if name not in [c for c, _ in chips]:
                chips.append((name, r.p))
            cells[name] = r
        rows.append((label, run, err, cells))
    head = ["Model", "Err in %"] + [f"{name} (p≈{100 * p:.3g}%)" for name, p in chips]
    body = [[label, pct(err)] + [f"{pct(c[n].mean)} ± {pct(c[n].std)}" if n in c else "-" for n, _ in chips]
            for label, _, err, c in rows]
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# {plan.experiment.reproduces}: {section.title}", "",
          "RErr in % (mean ± std over the weight-to-memory offsets) on each chip; p is the chip's own bit error "
          "rate p_0t1 + p_1t0.", ""] + _table(head, body)
    write_text(out / "profiled.md", "\n".join(md) + "\n")
    csv_rows = [["model", "run", "chip", "chip_p", "err", "rerr_mean", "rerr_std", "rerr_min", "rerr_max", "offsets"]]
    for label, run, err, c in rows:
        for name, p in chips:
            if name in c:
                r = c[name]
                csv_rows.append([label, str(run.run_dir), name, p, err, r.mean, r.std, r.min, r.max, len(r.rerr)])
    write_text(out / "profiled.csv", _csv(csv_rows))
    data = {"chips": [{"chip": n, "p": p} for n, p in chips],
            "rows": [{"model": label, "run": str(run.run_dir), "err": err,
                      "chips": {n: c[n].summary() for n, _ in chips if n in c}} for label, run, err, c in rows]}
    write_json(out / "profiled.json", data)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.4, 1.3 * len(chips) + 2), 4.4), dpi=120)
    width = 0.8 / max(len(rows), 1)
    for i, (label, _, _, c) in enumerate(rows):
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(chips))]
        ax.bar(xs, [100 * c[n].mean if n in c else 0 for n, _ in chips], width,
               yerr=[100 * c[n].std if n in c else 0 for n, _ in chips], label=label, color=f"C{i % 10}", capsize=2)
    ax.set_xticks(range(len(chips)))
    ax.set_xticklabels([f"{n}\np≈{100 * p:.3g}%" for n, p in chips], fontsize=8)
    ax.set_ylabel("RErr in % (mean ± std over offsets)")
    ax.set_title(section.title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, out / "profiled.png")
    lines = _table(head, body) + ["", f"Files: [{out.name}/profiled.md]({out.name}/profiled.md), `profiled.csv`, "
                                  "`profiled.json`.", "", f"![RErr per chip]({out.name}/profiled.png)", ""]
    return lines, data


# ----------------------------------------------------------------------------- BNN


def _bnn_curves_section(plan: Plan, section: Section, out: Path) -> tuple[list[str], dict]:
    rows = []
    for label, run, evs, extra in _entries(plan, section):
        res = _result(evs[0])
        metrics = read_json(extra[0].result_file, "BNN metrics") if extra else None
        rows.append((label, run, res, metrics))
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
    table = _table(head, body)
    write_text(out / "table.md", "\n".join([f"# {plan.experiment.reproduces}: {section.title}", "",
                                            f"Accuracy in % under {rows[0][2].source if rows else ''} bit errors "
                                            "(mean over trials), T^b on the test set.", ""] + table) + "\n")
    csv_rows = [["model", "run", "kind", "x", "value"]]
    for label, run, res, m in rows:
        csv_rows.append([label, str(run.run_dir), "accuracy", 0.0, 1 - res.err])
        csv_rows += [[label, str(run.run_dir), "accuracy", r.p, 1 - r.mean] for r in res.rates if r.p > 0]
        if m:
            csv_rows += [[label, str(run.run_dir), "T^b", b, v] for b, v in zip(m["bs"], m["T"])]
    write_text(out / "table.csv", _csv(csv_rows))
    data = {"rates": rates, "bs": bs, "rows": [
        {"model": label, "run": str(run.run_dir), "errors": res.source, "err": res.err,
         "accuracy": [{"p": r.p, "mean": 1 - r.mean, "std": r.std} for r in res.rates if r.p > 0],
         "T": m["T"] if m else None, "T_bar": m["T_bar"] if m else None, "var_pi": m["var_pi"] if m else None}
        for label, run, res, m in rows
    ]}
    write_json(out / "table.json", data)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.4), dpi=120)
    for i, (label, _, res, m) in enumerate(rows):
        ps = [0.0] + [100 * r.p for r in res.rates if r.p > 0]
        acc = [100 * (1 - res.err)] + [100 * (1 - r.mean) for r in res.rates if r.p > 0]
        axes[0].plot(ps, acc, ms=3, **series_style(i), label=label)
        if m:
            axes[1].plot(m["bs"], m["T"], ms=3, **series_style(i), label=f"{label} (T-bar {m['T_bar']:.3f})")
    axes[0].set_xlabel("bit error rate p in %")
    axes[0].set_ylabel("test accuracy in %")
    axes[0].set_title(f"accuracy over BER ({rows[0][2].source if rows else ''} errors)", fontsize=10)
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
    _save(fig, out / "curves.png")
    lines = table + ["", f"Files: [{out.name}/table.md]({out.name}/table.md), `table.csv`, `table.json`.", "",
                     f"![accuracy over BER and T^b]({out.name}/curves.png)", ""]
    return lines, data


def _metrics_rows(plan: Plan, section: Section) -> list[tuple[str, PlannedRun, dict]]:
    return [(label, run, read_json(evs[0].result_file, "BNN metrics")) for label, run, evs, _ in _entries(plan, section)]


def _bnn_importance_section(plan: Plan, section: Section, out: Path) -> tuple[list[str], dict]:
    import torch

    from bitrobust.reports.bnn import plot_importance

    rows = _metrics_rows(plan, section)
    head = ["Model", "Err in %", "VAR(Pi)", "T-bar"] + [f"VAR(Pi) layer {i + 1}" for i in range(len(rows[0][2]["layers"]))]
    body = [[label, pct(m["test_error"]), f"{m['var_pi']:.3g}", f"{m['T_bar']:.3f}"] + [f"{l['var_pi']:.3g}" for l in m["layers"]]
            for label, _, m in rows]
    out.mkdir(parents=True, exist_ok=True)
    table = _table(head, body)
    write_text(out / "table.md", "\n".join([f"# {plan.experiment.reproduces}: {section.title}", ""] + table) + "\n")
    csv_rows = [["model", "run", "layer", "neuron", "pi"]]
    for label, run, m in rows:
        for layer in m["layers"]:
            csv_rows += [[label, str(run.run_dir), layer["layer"], n, v] for n, v in enumerate(layer["pi"])]
    write_text(out / "importance.csv", _csv(csv_rows))
    data = {"rows": [{"model": label, "run": str(run.run_dir), "err": m["test_error"], "var_pi": m["var_pi"],
                      "T_bar": m["T_bar"], "layers": [{k: l[k] for k in ("layer", "name", "neurons", "var_pi")} for l in m["layers"]]}
                     for label, run, m in rows]}
    write_json(out / "table.json", data)
    layer_names = [f"layer {l['layer']}: {l['name']}" for l in rows[0][2]["layers"]]
    plot_importance({label: [torch.tensor(l["pi"]) for l in m["layers"]] for label, _, m in rows}, out / "importance.png",
                    layer_names, title=f"Neuron importance $\\Pi$: {section.title}")
    lines = table + ["", f"Files: [{out.name}/table.md]({out.name}/table.md), `importance.csv` (Pi per neuron), "
                     "`table.json`.", "", f"![Pi per neuron]({out.name}/importance.png)", ""]
    return lines, data


def _bnn_table_section(plan: Plan, section: Section, out: Path) -> tuple[list[str], dict]:
    cells: dict[tuple[str, float], list[dict]] = {}
    order_n: list[str] = []
    order_b: list[float] = []
    for label, run, evs, _ in _entries(plan, section):
        tags = run.spec.tags
        n, b = str(tags.get("neurons", run.spec.key)), float(tags.get("ber", 0))
        if n not in order_n:
            order_n.append(n)
        if b not in order_b:
            order_b.append(b)
        cells.setdefault((n, b), []).append(read_json(evs[0].result_file, "BNN metrics"))
    order_b.sort()

    def agg(ms: list[dict]) -> dict:
        v = [m["var_pi"] for m in ms]
        t = [m["T_bar"] for m in ms]
        e = [m["test_error"] for m in ms]
        return {"repeats": len(ms), "var_pi_mean": sum(v) / len(v), "var_pi_max": max(v), "var_pi_min": min(v),
                "T_bar_mean": sum(t) / len(t), "T_bar_min": min(t), "T_bar_max": max(t), "err_mean": sum(e) / len(e)}

    summary = {k: agg(v) for k, v in cells.items()}
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
    table = _table(head, body, "---|---|" + "---:|" * len(order_b))
    out.mkdir(parents=True, exist_ok=True)
    reps = max((s["repeats"] for s in summary.values()), default=1)
    write_text(out / "table.md", "\n".join([
        f"# {plan.experiment.reproduces}: {section.title}", "",
        f"Mean over {reps} repetition(s); with more than one, VAR(Pi) is followed by (max, min) and T-bar by "
        "(min, max) as in the paper. BER: the bit error rate during training.", ""] + table) + "\n")
    csv_rows = [["neurons", "ber", "repeats", "var_pi_mean", "var_pi_max", "var_pi_min", "T_bar_mean", "T_bar_min",
                 "T_bar_max", "err_mean"]]
    for (n, b), s in summary.items():
        csv_rows.append([n, b] + [s[k] for k in csv_rows[0][2:]])
    write_text(out / "table.csv", _csv(csv_rows))
    data = {"cells": [{"neurons": n, "ber": b, **s} for (n, b), s in summary.items()]}
    write_json(out / "table.json", data)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.2), dpi=120)
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
    _save(fig, out / "table.png")
    lines = table + ["", f"Files: [{out.name}/table.md]({out.name}/table.md), `table.csv`, `table.json`.", "",
                     f"![VAR(Pi) and T-bar over BER]({out.name}/table.png)", ""]
    return lines, data


# ----------------------------------------------------------------------------- weights (Fig. 10)


def _weight_groups(stats: dict) -> dict[str, tuple[list[int], float | None]]:
    """Selected tensors of Fig. 10: first/last conv weights, logit weights and biases, norm params."""
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


def _weights_section(plan: Plan, section: Section, out: Path) -> tuple[list[str], dict]:
    rows = _metrics_rows(plan, section)
    groups = {label: _weight_groups(st) for label, _, st in rows}
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
    table = _table(head, body, "---|---|" + "---:|" * (len(head) - 2))
    explain = ("Weight relevance: sum_i abs(w_i) / max_i abs(w_i) per tensor, divided by the number of weights (1 = all "
               "weights at full magnitude); ReLU relevance: fraction of non-zero activations after the last ReLU on "
               "the test set; relative error: sum_x ||z_c(x) - z(x)||_1 / sum_x ||z(x)||_1 of the logits z, bit errors of "
               "persistent chip c injected, mean over chips (our reading; the paper gives no formula). Histograms: quantized weights / reference (w_max with clipping, else the largest weight magnitude).")
    write_text(out / "redundancy.md", "\n".join([f"# {plan.experiment.reproduces}: {section.title}", "", explain, ""] + table) + "\n")
    csv_rows = [["model", "run", "tensor", "kind", "numel", "max_abs", "weight_relevance", "weight_relevance_fraction"]]
    for label, run, st in rows:
        csv_rows += [[label, str(run.run_dir), t["name"], t["kind"], t["numel"], t["max_abs"], t["weight_relevance"],
                      t["weight_relevance_fraction"]] for t in st["tensors"]]
    write_text(out / "weights.csv", _csv(csv_rows))
    data = {"rows": [{"model": label, "run": str(run.run_dir), **{k: v for k, v in st.items() if k != "tensors"},
                      "groups": {g: {"hist": h, "weight_relevance_fraction": r} for g, (h, r) in groups[label].items()}}
                     for label, run, st in rows]}
    write_json(out / "redundancy.json", data)
    plt = _pyplot()
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
    _save(fig, out / "weights.png")
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
    _save(fig, out / "redundancy.png")
    lines = [explain, ""] + table + ["", f"Files: [{out.name}/redundancy.md]({out.name}/redundancy.md), `weights.csv` "
                                     "(per tensor), `redundancy.json` (with histograms).", "",
                                     f"![weight histograms]({out.name}/weights.png)", "",
                                     f"![redundancy]({out.name}/redundancy.png)", ""]
    return lines, data


WRITERS = {
    "rerr": _rerr_section,
    "profiled": _profiled_section,
    "bnn_curves": _bnn_curves_section,
    "bnn_importance": _bnn_importance_section,
    "bnn_table": _bnn_table_section,
    "weights": _weights_section,
}


def write_experiment_report(plan: Plan) -> list[Path]:
    """report.md and results.json in ``plan.report_dir`` plus each section's directory; returns the paths."""
    exp = plan.experiment
    out = plan.report_dir
    out.mkdir(parents=True, exist_ok=True)
    budget = plan.budget + (" (smoke: tiny subsets, not results)" if plan.smoke else "")
    lines = [
        f"# {exp.paper}, {exp.reproduces}: {exp.title}", "",
        f"Reproduces {exp.paper}, {exp.reproduces}. {exp.description}", "",
        f"- budget: {budget}",
        f"- runs: {len(plan.unique_runs())} (in `{plan.out / 'runs'}`), evaluations: {len(plan.unique_evals())}",
        f"- recipes: `{plan.configs_dir}`; resolved definition: [experiment.yaml](experiment.yaml)",
        f"- written by bitrobust {__version__} (`bitrobust reproduce {exp.name} --budget {plan.budget}"
        f"{' --smoke' if plan.smoke else ''}`)", "",
    ]
    if exp.notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in exp.notes] + [""]
    sections = []
    for section in exp.sections:
        if not plan.section_rows(section):
            continue
        sec_lines, data = WRITERS[section.kind](plan, section, out / section.key)
        lines += [f"## {section.title}", ""] + ([section.note, ""] if section.note else []) + sec_lines
        sections.append({"key": section.key, "title": section.title, "kind": section.kind, "note": section.note, **data})
    paths = [out / "report.md", out / "results.json"]
    write_text(paths[0], "\n".join(lines).rstrip() + "\n")
    write_json(paths[1], {"experiment": exp.name, "paper": exp.paper, "reproduces": exp.reproduces, "title": exp.title,
                          "budget": plan.budget, "smoke": plan.smoke, "notes": list(exp.notes), "sections": sections})
    return paths
