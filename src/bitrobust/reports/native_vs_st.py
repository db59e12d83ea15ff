"""Native vs straight-through flip training (paper 2, Sec. IV-B and V): the ``bnn_native_vs_st`` report section.

Paper 2 claims that BNNs flip-trained with the native operator of Hirtzlin et al. ((B(W) * M) o X,
gradient through the mask) overfit to their training bit error rate, losing accuracy at lower rates,
while its straight-through operator (B(E_p(B(W))) o X, gradient unaware of the flips) does not. Per
straight-through gradient of the sign (identity, paper 2 Eq. 1, and hard-tanh) the section shows the
accuracy over the evaluation BER of both operators and, per (training BER, evaluation BER), the
paired difference native - straight-through with its 95% interval and verdict (DESIGN.md contract 8,
:func:`bitrobust.metrics.paired.paired_difference`): both operators were evaluated with the same
transient reads, and seed s of one is paired with seed s of the other.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from bitrobust.errors import BitrobustError
from bitrobust.evaluation.robustness import RobustnessResult
from bitrobust.io import write_json, write_text
from bitrobust.metrics.paired import PairedDifference, paired_difference
from bitrobust.reports.experiment_input import RunEntry, SectionInput
from bitrobust.reports.paired import compare
from bitrobust.reports.plotting import pyplot, save_figure, series_style
from bitrobust.reports.text import csv_text, markdown_table, pct

ST, NATIVE = "straight_through", "native"
VERDICTS = {"A lower": "ST higher", "B lower": "native higher", "not resolved": "not resolved"}
"""The paired verdict with A = straight-through, B = native (errors), said about accuracy."""

Runs = Mapping[tuple[str, str | None, float], Mapping[int, RobustnessResult]]


def group_runs(entries: Sequence[RunEntry]) -> dict[tuple[str, str | None, float], dict[int, RobustnessResult]]:
    """(STE, operator, training BER in %) -> seed -> result, from the entries' tags ``ste``, ``op``, ``ber``
    and ``seed`` (0 where a run has no repeats); a run trained without flips has operator None.

    >>> from bitrobust.reports.experiment_input import Evaluation
    >>> result = {"err": 0.2, "confidence": 0.9, "n_examples": 100, "source": "transient", "trials": 2, "bits": 1,
    ...           "scheme": {}, "rates": [{"p": 0.1, "rerr": [0.3, 0.4], "confidence": [0.8, 0.8]}]}
    >>> entry = RunEntry("st p=5%", Path("runs/a"), (Evaluation(result),), tags={"ste": "identity",
    ...                  "op": "straight_through", "ber": 5, "seed": 1})
    >>> group_runs([entry])[("identity", "straight_through", 5.0)][1].rate(0.1).rerr
    (0.3, 0.4)
    """
    out: dict[tuple[str, str | None, float], dict[int, RobustnessResult]] = {}
    for e in entries:
        key = (str(e.tags.get("ste", "identity")), e.tags.get("op"), float(e.tags.get("ber", 0)))
        seed = int(e.tags.get("seed", 0))
        if seed in out.setdefault(key, {}):
            raise BitrobustError(f"two runs of {key} with seed {seed} in one native-vs-ST section")
        out[key][seed] = RobustnessResult.from_dict(e.evaluations[0].result)
    return out


def paired_cells(runs: Runs, ste: str, ber: float) -> tuple[list[int], list[tuple[float, PairedDifference]]]:
    """(the seeds both operators have, [(evaluation BER, native - ST accuracy)]) at training BER ``ber``:
    evaluation BER 0 pairs the clean errors (one per seed), every other rate the per-read errors.

    The difference of accuracies is that of errors with the sides swapped:
    acc_native - acc_ST = RErr_ST - RErr_native, so A = straight-through and B = native.
    """
    st, native = runs[(ste, ST, ber)], runs[(ste, NATIVE, ber)]
    seeds = sorted(set(st) & set(native))
    if not seeds:
        raise BitrobustError(f"{ste}, training BER {ber:g}%: no seed has both operators")
    a, b = [st[s] for s in seeds], [native[s] for s in seeds]
    cells = [(0.0, paired_difference([[r.err] for r in a], [[r.err] for r in b]))]
    cells += [(row.p, row.diff) for row in compare(a, b)]
    return seeds, cells


def _mean_accuracy(results: Sequence[RobustnessResult], p: float) -> float:
    errs = [r.err for r in results] if p == 0 else [e for r in results for e in r.rate(p).rerr]
    return 1 - sum(errs) / len(errs)


def _interval(d: PairedDifference) -> str:
    if not (math.isfinite(d.low) and math.isfinite(d.high)):
        return "[n/a]"
    return f"[{100 * d.low:+.1f}, {100 * d.high:+.1f}]"


def _cell(d: PairedDifference) -> str:
    mark = {"A lower": " ST", "B lower": " native"}.get(d.verdict, "")
    return f"{100 * d.mean:+.1f} {_interval(d)}{mark}"


def _unit(d: PairedDifference) -> str:
    """What the interval treats as independent: seeds, or the reads of one trained model per side."""
    return "read" if d.unit == "chip" else d.unit


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _clean_table(runs: Runs, stes: list[str], bers: list[float]) -> list[str]:
    head = ["Training BER"] + [f"{ste}: {op}" for ste in stes for op in ("ST", "native")] + ["seeds"]
    body = []
    for ber in [0.0] + bers:
        cells, seeds = [], set()
        for ste in stes:
            for op in (ST, NATIVE):
                got = runs.get((ste, None if ber == 0 else op, ber), {})
                accs = [1 - r.err for r in got.values()]
                if not accs:
                    cells.append("-")
                    continue
                mean = sum(accs) / len(accs)
                std = math.sqrt(sum((x - mean) ** 2 for x in accs) / len(accs))
                seeds.add(len(accs))
                cells.append(pct(mean, 1) + (f" ± {pct(std, 1)}" if len(accs) > 1 else ""))
        label = "0 % (no flips: one model for both operators)" if ber == 0 else f"{ber:g} %"
        body.append([label] + cells + ["/".join(str(s) for s in sorted(seeds))])
    return markdown_table(head, body)


def _plot(runs: Runs, stes: list[str], bers: list[float], cells: dict, title: str, path: Path) -> None:
    fig, axes = pyplot().subplots(2, len(stes), figsize=(6.0 * len(stes), 8.0), dpi=120, squeeze=False)
    for j, ste in enumerate(stes):
        top, bottom = axes[0][j], axes[1][j]
        if (ste, None, 0.0) in runs:
            ref = list(runs[(ste, None, 0.0)].values())
            ps = [0.0] + [r.p for r in ref[0].rates]
            top.plot([100 * p for p in ps], [100 * _mean_accuracy(ref, p) for p in ps], color="black", lw=1,
                     ls=":", marker=".", label="no flips")
        for i, ber in enumerate(bers):
            style = series_style(i)
            for op, ls in ((ST, "-"), (NATIVE, "--")):
                res = [runs[(ste, op, ber)][s] for s in sorted(runs[(ste, op, ber)])]
                ps = [0.0] + [r.p for r in res[0].rates]
                top.plot([100 * p for p in ps], [100 * _mean_accuracy(res, p) for p in ps], color=style["color"],
                         marker=style["marker"], ms=3, ls=ls, label=f"{'ST' if op == ST else 'native'} {ber:g}%")
            ds = cells[(ste, ber)]
            xs = [100 * q for q, _ in ds]
            ys = [100 * d.mean for _, d in ds]
            err = [[100 * (d.mean - d.low) if math.isfinite(d.low) else 0.0 for _, d in ds],
                   [100 * (d.high - d.mean) if math.isfinite(d.high) else 0.0 for _, d in ds]]
            bottom.errorbar([x + 0.15 * (i - len(bers) / 2) for x in xs], ys, yerr=err, color=style["color"],
                            marker=style["marker"], ms=3, capsize=2, lw=1, label=f"trained at {ber:g}%")
        bottom.axhline(0.0, color="gray", lw=0.8)
        top.set_title(f"{ste} straight-through gradient: accuracy (solid ST, dashed native)", fontsize=9)
        bottom.set_title(f"{ste}: native - ST accuracy with 95% interval", fontsize=9)
        top.set_ylabel("test accuracy in %")
        bottom.set_ylabel("native - ST in points")
        for ax in (top, bottom):
            ax.set_xlabel("evaluation bit error rate in %")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=11)
    save_figure(fig, path)


def native_vs_st_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """Clean accuracies and native - ST accuracy per (training BER, evaluation BER), per straight-through
    gradient: table.md, .csv, .json and native_vs_st.png in ``out``; returns the lines of ``report.md`` and
    the results' part."""
    runs = group_runs(section.entries)
    pairs = [(ste, ber) for ste, op, ber in runs if op == ST and (ste, NATIVE, ber) in runs]
    if not pairs:
        raise BitrobustError(f"section {section.key}: no training BER has both a native and a straight-through run")
    stes, bers = list(dict.fromkeys(ste for ste, _ in pairs)), sorted({ber for _, ber in pairs})
    cells = {pair: paired_cells(runs, *pair) for pair in pairs}
    csv_rows = [["ste", "train_ber", "eval_ber", "acc_st", "acc_native", "native_minus_st", "low", "high", "verdict",
                 "n", "reads", "seeds", "unit"]]
    data_rows = []
    lines = ["Clean test accuracy in % (mean ± std over seeds; evaluation test set):", ""]
    lines += _clean_table(runs, stes, bers) + [""]
    for ste in stes:
        qs = [q for q, _ in next(ds for (s, _), (_, ds) in cells.items() if s == ste)]
        head = ["Training BER", "clean"] + [f"p={100 * q:g}%" for q in qs[1:]] + ["n", "l", "seeds", "unit"]
        body = []
        for ber in bers:
            if (ste, ber) not in cells:
                continue
            seeds, ds = cells[(ste, ber)]
            if [q for q, _ in ds] != qs:
                raise BitrobustError(f"{ste}: the runs trained at {ber:g}% were evaluated at other rates than the rest")
            st = [runs[(ste, ST, ber)][s] for s in seeds]
            native = [runs[(ste, NATIVE, ber)][s] for s in seeds]
            n, unit = st[0].n_examples, _unit(ds[-1][1])
            for q, d in ds:
                row = {"ste": ste, "train_ber": ber / 100, "eval_ber": q, "acc_st": _mean_accuracy(st, q),
                       "acc_native": _mean_accuracy(native, q), "native_minus_st": d.mean, "low": _finite(d.low),
                       "high": _finite(d.high), "verdict": VERDICTS[d.verdict], "n": n, "reads": d.chips,
                       "seeds": d.seeds, "unit": _unit(d)}
                data_rows.append(row)
                csv_rows.append([row[k] for k in csv_rows[0]])
            body.append([f"{ber:g} %"] + [_cell(d) for _, d in ds] + [n, ds[-1][1].chips, len(seeds), unit])
        lines += [f"Native - straight-through accuracy in points, {ste} straight-through gradient (mean, 95% "
                  "interval, and which operator is higher where the interval excludes 0):", ""]
        lines += markdown_table(head, body) + [""]
    caption = ("Native - ST: mean paired difference of accuracies, acc_native - acc_ST, with its 95% Student-t "
               "interval over the independent units (seeds when there are several, else the reads of one trained "
               "model; the clean column has one pass per seed, so one seed gives no interval); 'native' or 'ST' "
               "names the higher one where the interval excludes 0. Both operators saw the same transient reads. "
               "n test examples, l reads per rate. Paper 2's claim: native < ST at evaluation BERs below the "
               "training BER.")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "table.md", "\n".join([f"# {reproduces}: {section.title}", "", caption, ""] + lines))
    write_text(out / "table.csv", csv_text(csv_rows))
    data = {"stes": stes, "train_bers": [b / 100 for b in bers],
            "clean": [{"ste": ste, "op": op, "train_ber": ber / 100, "seed": seed, "accuracy": 1 - r.err}
                      for (ste, op, ber), by_seed in runs.items() for seed, r in sorted(by_seed.items())],
            "paired": data_rows}
    write_json(out / "table.json", data)
    _plot(runs, stes, bers, {k: ds for k, (_, ds) in cells.items()}, section.title, out / "native_vs_st.png")
    lines += [caption, "", f"Files: [{out.name}/table.md]({out.name}/table.md), `table.csv`, `table.json`.", "",
              f"![native vs straight-through]({out.name}/native_vs_st.png)", ""]
    return lines, data
