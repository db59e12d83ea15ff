"""Text primitives shared by every report: percentages, Markdown tables, CSV and unique labels.

Tables print error rates in % (paper 3 reports Err and RErr in %, Tab. 18-21; papers 1
and 2 accuracies in %); CSV and JSON keep fractions. JSON goes through
:func:`bitrobust.io.write_json`, text files through :func:`bitrobust.io.write_text`, so
every file is written atomically.
"""

from __future__ import annotations

import csv
import io
from typing import Sequence


def pct(x: float | None, digits: int = 2) -> str:
    """``100 x`` with ``digits`` decimals; "-" where the value is missing.

    >>> pct(0.0437), pct(0.5, 1), pct(None)
    ('4.37', '50.0', '-')
    """
    return "-" if x is None else f"{100 * x:.{digits}f}"


def markdown_table(head: Sequence[str], body: Sequence[Sequence[object]], align: str | None = None) -> list[str]:
    """Lines of a Markdown table; ``align`` is the separator row without its leading "|"
    (default: first column left, the others right-aligned).

    >>> print("\\n".join(markdown_table(["Model", "Err in %"], [["NORMAL", pct(0.0436)]])))
    | Model | Err in % |
    |---|---:|
    | NORMAL | 4.36 |
    """
    align = align or ("---|" + "---:|" * (len(head) - 1))
    return ["| " + " | ".join(head) + " |", "|" + align] + ["| " + " | ".join(str(c) for c in row) + " |" for row in body]


def csv_text(rows: Sequence[Sequence[object]], lineterminator: str = "\n") -> str:
    """Rows as CSV text (the first row is the header).

    >>> csv_text([["model", "err"], ["NORMAL", 0.0436]])
    'model,err\\nNORMAL,0.0436\\n'
    """
    buf = io.StringIO()
    csv.writer(buf, lineterminator=lineterminator).writerows(rows)
    return buf.getvalue()


def unique_labels(labels: Sequence[str]) -> list[str]:
    """Labels with repeats numbered from the second on, so table rows stay distinguishable.

    >>> unique_labels(["RQUANT", "CLIPPING_0.1", "RQUANT"])
    ['RQUANT', 'CLIPPING_0.1', 'RQUANT #2']
    """
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out
