"""Clean test error against the precision m, one column per normalization (paper 3, Tab. 7).

Tab. 7 lists the clean Err of quantization-aware training at m = 8 bits and lower (for m <= 4
with CLIPPING_0.1, marked *), with group and batch normalization. Each entry of a
``clean_err`` section is one trained model tagged with its precision (``m``), its
normalization (``norm``) and, where it was trained with weight clipping, ``clipping``; its
evaluation is any robustness result, of which only the clean Err is used. Repeats (seeds)
of a cell are averaged, with their count.
"""

from __future__ import annotations

from pathlib import Path

from bitrobust.io import write_json, write_text
from bitrobust.reports.experiment_input import SectionInput
from bitrobust.reports.plotting import pyplot, save_figure, series_style
from bitrobust.reports.text import csv_text, markdown_table, pct


def clean_err_cells(section: SectionInput) -> dict[tuple[int, str], dict]:
    """(m, norm) -> {"err": mean clean Err, "errs": per repeat, "models": labels, "clipping": bool}.

    >>> from bitrobust.reports.experiment_input import Evaluation, RunEntry
    >>> e = lambda err, m: RunEntry("RQUANT", Path("r"), (Evaluation({"err": err}),), tags={"m": m, "norm": "GN"})
    >>> clean_err_cells(SectionInput("t7", "Tab. 7", "clean_err", (e(0.02, 8), e(0.04, 8))))[(8, "GN")]["err"]
    0.03
    """
    cells: dict[tuple[int, str], dict] = {}
    for entry in section.entries:
        key = (int(entry.tags["m"]), str(entry.tags.get("norm", "")))
        cell = cells.setdefault(key, {"errs": [], "models": [], "clipping": bool(entry.tags.get("clipping"))})
        cell["errs"].append(float(entry.evaluations[0].result["err"]))
        cell["models"].append(entry.label)
    for cell in cells.values():
        cell["err"] = sum(cell["errs"]) / len(cell["errs"])
    return cells


def clean_err_section(section: SectionInput, out: Path, reproduces: str) -> tuple[list[str], dict]:
    """clean_err.md, .csv, .json and clean_err.png (Err vs m per normalization) in ``out``; returns the lines of
    report.md and the results' part."""
    out.mkdir(parents=True, exist_ok=True)
    cells = clean_err_cells(section)
    bits = sorted({m for m, _ in cells}, reverse=True)
    norms = list(dict.fromkeys(norm for _, norm in cells))
    body = []
    for m in bits:
        row = [str(m) + ("*" if any(cells.get((m, n), {}).get("clipping") for n in norms) else "")]
        for n in norms:
            cell = cells.get((m, n))
            row.append("-" if cell is None else pct(cell["err"]) + (f" (n={len(cell['errs'])})" if len(cell["errs"]) > 1 else ""))
        body.append(row)
    table = markdown_table(["m"] + [f"{n} Err in %" for n in norms], body)
    note = ("Clean Err of the quantized model (no bit errors), each precision trained with quantization-aware "
            "training at that m; * trained with weight clipping (CLIPPING_0.1, as the paper for m <= 4).")
    write_text(out / "clean_err.md", "\n".join([f"# {reproduces}: {section.title}", "", note, ""] + table) + "\n")
    rows = [{"m": m, "norm": n, **cells[(m, n)]} for m in bits for n in norms if (m, n) in cells]
    write_text(out / "clean_err.csv", csv_text([["m", "norm", "err", "repeats", "clipping", "models"]] +
                                               [[r["m"], r["norm"], r["err"], len(r["errs"]), r["clipping"],
                                                 "; ".join(r["models"])] for r in rows]))
    data = {"rows": rows}
    write_json(out / "clean_err.json", data)
    fig, ax = pyplot().subplots(figsize=(6.4, 4.0), dpi=130)
    for i, n in enumerate(norms):
        ms = [m for m in bits if (m, n) in cells]
        ax.plot(ms, [100 * cells[(m, n)]["err"] for m in ms], label=n or "model", **series_style(i))
    ax.set_xlabel("precision m in bits (* m <= 4: CLIPPING_0.1)")
    ax.set_ylabel("clean Err in %")
    ax.set_xticks(bits)
    ax.invert_xaxis()
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(section.title, fontsize=10)
    save_figure(fig, out / "clean_err.png")
    lines = [note, ""] + table + ["", f"Files: `{out.name}/clean_err.csv`, `clean_err.json`.", "",
                                  f"![clean Err vs m]({out.name}/clean_err.png)", ""]
    return lines, data
