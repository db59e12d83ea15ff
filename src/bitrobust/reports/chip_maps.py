"""Chip maps: per-cell flip probabilities of a segment of a profiled chip at two voltages (paper 3, Fig. 3 and 8).

Fig. 3 shows the bit flip probability of a 64 x 128 segment of two chips at two supply
voltages (chip 1 roughly uniform, chip 2 column-aligned) and notes that the faults at the
higher voltage are a subset of those at the lower one; Fig. 8 splits them into 0->1 and
1->0 flips and into persistent (probability 1) and transient cells. The paper's measured
maps are not public, so the maps here are the synthetic physical chips of
:mod:`bitrobust.bit_errors.synthetic` (App. C.1's rates, one chip per seed). A cell's flip
probability is p_0t1 + p_1t0 (a cell flips one way only). :func:`chip_map_data` draws the
segments and measures the subset property (the fraction of the higher voltage's faulty
cells that are faulty, with the same kind, at the lower voltage: 1 for a consistent chip);
:func:`write_chip_maps` renders stored data as tables and the two figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import torch

from bitrobust.bit_errors.synthetic import PAPER_CHIPS, paper_chip
from bitrobust.errors import BitrobustError
from bitrobust.io import write_json, write_text
from bitrobust.reports.plotting import pyplot, save_figure
from bitrobust.reports.text import csv_text, markdown_table, pct

FIG3_CHIPS = {"chip 1": ("chip1_0.866", "chip1_2.744"), "chip 2": ("chip2_1.01", "chip2_4.707")}  # Fig. 3 / 8
SEGMENT = (64, 128)


def _kind_map(p01: torch.Tensor, p10: torch.Tensor) -> torch.Tensor:
    """Per cell: 0 fault-free, 1 persistent 0->1, 2 persistent 1->0, 3 transient 0->1, 4 transient 1->0."""
    kind = torch.zeros(p01.shape, dtype=torch.int64)
    kind[(p01 > 0) & (p01 < 1)] = 3
    kind[(p10 > 0) & (p10 < 1)] = 4
    kind[p01 >= 1] = 1
    kind[p10 >= 1] = 2
    return kind


def chip_map_data(chips: Mapping[str, Sequence[str]] = FIG3_CHIPS, seed: int = 0,
                  segment: tuple[int, int] = SEGMENT) -> dict:
    """The top-left ``segment`` (rows, cols) of each chip's maps, per voltage (a ``PAPER_CHIPS`` row; higher
    voltage = lower p first), with the whole chip's rates and the subset property between consecutive voltages.

    >>> data = chip_map_data({"chip 1": ("chip1_0.866", "chip1_2.744")}, segment=(4, 8))
    >>> [m["name"] for m in data["chips"][0]["maps"]], data["chips"][0]["subset"][0]["contained"]
    (['chip1_0.866', 'chip1_2.744'], 1.0)
    """
    rows, cols = segment
    out = []
    for label, names in chips.items():
        unknown = [n for n in names if n not in PAPER_CHIPS]
        if unknown:
            raise BitrobustError(f"unknown paper chip {unknown[0]!r}; valid: {', '.join(PAPER_CHIPS)}")
        names = sorted(names, key=lambda n: PAPER_CHIPS[n].p)  # higher voltage (lower p) first
        maps, kinds = [], []
        for name in names:
            chip = paper_chip(name, seed)
            if rows > chip.rows or cols > chip.cols:
                raise BitrobustError(f"segment {rows}x{cols} is larger than chip {name} ({chip.rows}x{chip.cols})")
            st = chip.stats()
            kinds.append(_kind_map(chip.flip_0to1, chip.flip_1to0))
            maps.append({
                "name": name, "p_table": PAPER_CHIPS[name].p / 100, "p": float(st.p), "p_0t1": float(st.p_0t1),
                "p_1t0": float(st.p_1t0), "p_sa": float(st.p_sa), "faulty": float(st.faulty),
                "flip_rate": chip.flip_rate(),
                "flip_0to1": chip.flip_0to1[:rows, :cols].tolist(), "flip_1to0": chip.flip_1to0[:rows, :cols].tolist(),
            })
        subset = []
        for (hi, k_hi), (lo, k_lo) in zip(zip(names, kinds), list(zip(names, kinds))[1:]):
            faulty = k_hi > 0
            n = int(faulty.sum())
            subset.append({"higher_voltage": hi, "lower_voltage": lo, "faulty_higher": n,
                           "faulty_lower": int((k_lo > 0).sum()),
                           "contained": float((k_lo[faulty] > 0).float().mean()) if n else 1.0,
                           "same_kind": float((k_lo[faulty] == k_hi[faulty]).float().mean()) if n else 1.0})
        out.append({"label": label, "layout": PAPER_CHIPS[names[0]].layout, "maps": maps, "subset": subset})
    return {"seed": seed, "segment": [rows, cols], "chips": out}


def _flip(m: dict) -> torch.Tensor:
    return torch.tensor(m["flip_0to1"]) + torch.tensor(m["flip_1to0"])


def _category_cmap(colors: Sequence[str]):
    from matplotlib.colors import ListedColormap

    return ListedColormap(list(colors))


def _axes_style(ax) -> None:
    ax.set_xlabel("column (bit)", fontsize=7)
    ax.set_ylabel("row", fontsize=7)
    ax.tick_params(labelsize=6)


def plot_voltages(data: dict, path: Path, title: str) -> None:
    """Fig. 3: flip probability per cell, one row per chip, one column per voltage (higher first), and a map of
    where the faults sit (both voltages / only the lower / only the higher: the subset property)."""
    plt = pyplot()
    chips = data["chips"]
    nv = max(len(c["maps"]) for c in chips)
    fig, axes = plt.subplots(len(chips), nv + 1, figsize=(3.7 * (nv + 1), 2.5 * len(chips) + 0.6), dpi=130,
                             squeeze=False)
    for i, chip in enumerate(chips):
        for j, m in enumerate(chip["maps"]):
            ax = axes[i][j]
            image = ax.imshow(_flip(m).numpy(), cmap="viridis", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
            where = "higher" if j == 0 else "lower"
            ax.set_title(f"{chip['label']} ({chip['layout']}), {where} voltage\n"
                         f"p = {100 * m['p_table']:g}% (App. C.1)", fontsize=8)
            _axes_style(ax)
            if j == len(chip["maps"]) - 1:
                fig.colorbar(image, ax=ax, fraction=0.06, pad=0.02).set_label("flip probability", fontsize=7)
        ax = axes[i][nv]
        lo, hi = _flip(chip["maps"][-1]) > 0, _flip(chip["maps"][0]) > 0
        cats = (lo & ~hi).long() + 2 * (lo & hi).long() + 3 * (hi & ~lo).long()
        ax.imshow(cats.numpy(), cmap=_category_cmap(["#f4f4f4", "tab:blue", "tab:red", "black"]), vmin=0, vmax=3,
                  interpolation="nearest", aspect="auto")
        s = chip["subset"][-1] if chip["subset"] else {"contained": 1.0, "same_kind": 1.0}
        ax.set_title(f"faulty: both (red), lower V only (blue), higher only (black)\n"
                     f"{100 * s['contained']:.1f}% of the higher's kept, {100 * s['same_kind']:.1f}% same kind",
                     fontsize=7.5)
        _axes_style(ax)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


KIND_COLORS = ("#f4f4f4", "tab:red", "tab:blue", "#f4a582", "#92c5de")  # none, persistent/transient 0->1, 1->0
KIND_NAMES = ("fault-free", "persistent 0->1", "persistent 1->0", "transient 0->1", "transient 1->0")


def plot_kinds(data: dict, path: Path, title: str) -> None:
    """Fig. 8: per chip and voltage, the 0->1 and the 1->0 flip probability and the kind of every faulty cell
    (persistent: flips on every read; transient: flips with probability q_t per read)."""
    plt = pyplot()
    from matplotlib.patches import Patch

    rows = [(chip, m) for chip in data["chips"] for m in chip["maps"]]
    fig, axes = plt.subplots(len(rows), 3, figsize=(11.5, 2.3 * len(rows) + 0.9), dpi=130, squeeze=False)
    for i, (chip, m) in enumerate(rows):
        head = f"{chip['label']}, p = {100 * m['p_table']:g}%"
        for j, (key, what, rate) in enumerate((("flip_0to1", "0->1", m["p_0t1"]), ("flip_1to0", "1->0", m["p_1t0"]))):
            ax = axes[i][j]
            image = ax.imshow(torch.tensor(m[key]).numpy(), cmap="viridis", vmin=0, vmax=1, interpolation="nearest",
                              aspect="auto")
            ax.set_title(f"{head}: {what} flip probability (chip: {100 * rate:.3g}%)", fontsize=7.5)
            _axes_style(ax)
        fig.colorbar(image, ax=axes[i][1], fraction=0.06, pad=0.02).set_label("flip probability", fontsize=7)
        ax = axes[i][2]
        kind = _kind_map(torch.tensor(m["flip_0to1"]), torch.tensor(m["flip_1to0"]))
        ax.imshow(kind.numpy(), cmap=_category_cmap(KIND_COLORS), vmin=0, vmax=4, interpolation="nearest", aspect="auto")
        ax.set_title(f"{head}: persistent ({100 * m['p_sa']:.3g}%) / transient", fontsize=7.5)
        _axes_style(ax)
    fig.legend([Patch(color=c) for c in KIND_COLORS[1:]], KIND_NAMES[1:], loc="lower center", ncol=4, fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path, rect=(0, 0.03, 1, 1))


def write_chip_maps(data: dict, out: Path, title: str) -> list[str]:
    """chip_maps.md, .csv (every faulty cell of the segments), .json, voltages.png (Fig. 3) and kinds.png (Fig. 8)
    in ``out`` from :func:`chip_map_data`'s ``data``; the lines of report.md."""
    out.mkdir(parents=True, exist_ok=True)
    body = [[c["label"], m["name"], f"{100 * m['p_table']:g}", pct(m["p"], 3), pct(m["p_0t1"], 3), pct(m["p_1t0"], 3),
             pct(m["p_sa"], 3), pct(m["faulty"], 3), pct(m["flip_rate"], 3)] for c in data["chips"] for m in c["maps"]]
    rates = markdown_table(["chip", "row of App. C.1", "p (table) in %", "p in %", "p_0t1 in %", "p_1t0 in %",
                            "p_sa in %", "faulty cells in %", "effective flip rate in %"], body)
    subset = markdown_table(
        ["chip", "higher voltage", "lower voltage", "faulty cells (higher)", "faulty cells (lower)",
         "contained in %", "same kind in %"],
        [[c["label"], s["higher_voltage"], s["lower_voltage"], s["faulty_higher"], s["faulty_lower"],
          pct(s["contained"], 1), pct(s["same_kind"], 1)] for c in data["chips"] for s in c["subset"]])
    rows, cols = data["segment"]
    explain = (f"Synthetic physical chips (seed {data['seed']}) with App. C.1's rates; the maps show the top-left "
               f"{rows} x {cols} bits. Rates are of the whole chip: p = p_0t1 + p_1t0 (the mean flip probability "
               "per cell, as in the paper's table), the faulty-cell rate, and the effective flip rate measured on "
               "random stored data (about p / 2: a directional fault flips only the other bit value).")
    text = [explain, ""] + rates + ["", "Subset property over the whole chip (faulty cells at the higher voltage that "
                                    "are faulty, and with the same kind, at the lower voltage):", ""] + subset
    write_text(out / "chip_maps.md", "\n".join([f"# {title}", ""] + text) + "\n")
    cells = [["chip", "map", "row", "col", "flip_0to1", "flip_1to0"]]
    for c in data["chips"]:
        for m in c["maps"]:
            f01, f10 = torch.tensor(m["flip_0to1"]), torch.tensor(m["flip_1to0"])
            for r, k in torch.nonzero((f01 > 0) | (f10 > 0)).tolist():
                cells.append([c["label"], m["name"], r, k, float(f01[r, k]), float(f10[r, k])])
    write_text(out / "chip_maps.csv", csv_text(cells))
    write_json(out / "chip_maps.json", data)
    chips = f"Synthetic chips (seed {data['seed']}), top-left {rows} x {cols} bits"
    plot_voltages(data, out / "voltages.png", f"{chips}: flip probability at two voltages (Fig. 3)")
    plot_kinds(data, out / "kinds.png", f"{chips}: 0->1 / 1->0 and persistent / transient (Fig. 8)")
    return text + ["", f"Files: `{out.name}/chip_maps.csv` (every faulty cell of the segments), `chip_maps.json`.", "",
                   f"![flip probability at two voltages (Fig. 3)]({out.name}/voltages.png)", "",
                   f"![0->1 / 1->0, persistent / transient (Fig. 8)]({out.name}/kinds.png)", ""]


def chip_maps_section(section, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """The ``chip_maps`` report section: ``section.params`` may set ``chips`` ({label: [App. C.1 rows]}),
    ``seed`` and ``segment`` (rows, cols); returns (lines of report.md, results part)."""
    params = section.params
    data = chip_map_data(params.get("chips", FIG3_CHIPS), params.get("seed", 0), tuple(params.get("segment", SEGMENT)))
    return write_chip_maps(data, out, f"{reproduces}: {section.title}"), data
