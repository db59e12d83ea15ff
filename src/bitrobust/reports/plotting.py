"""The one plotting set-up of every report figure: Agg backend, series styles, atomic PNGs.

Figures are drawn off-screen (matplotlib's Agg backend, selected here and nowhere else),
series are told apart by colour, marker and dash pattern (:func:`series_style`), and
:func:`save_figure` lays a figure out tightly and writes it as PNG through
:func:`bitrobust.io.atomic_path`, so a reader never sees half a file.
"""

from __future__ import annotations

from pathlib import Path

from bitrobust.io import atomic_path

LINESTYLES = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (7, 2, 1.5, 2)))  # solid, dashed, dotted, dash-dot
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: the CLI starts fast).

    >>> pyplot().get_backend().lower()
    'agg'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, rect: tuple[float, float, float, float] | None = None) -> None:
    """Tight layout (within ``rect`` of the figure, if given), write ``path`` as PNG atomically, close ``fig``.

    >>> import tempfile
    >>> fig, ax = pyplot().subplots()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_figure(fig, Path(d) / "f.png")
    ...     (Path(d) / "f.png").read_bytes()[:4]
    b'\\x89PNG'
    """
    fig.tight_layout(rect=rect)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    pyplot().close(fig)


def series_style(i: int) -> dict:
    """Colour, marker and line style of the i-th series; after 10 series the dashes and the
    colour-marker pairing change, so no two of the first 100 series look alike.

    >>> series_style(0), series_style(10)["linestyle"]
    ({'color': 'C0', 'marker': 'o', 'linestyle': '-'}, (0, (5, 2)))
    """
    return {"color": f"C{i % 10}", "marker": MARKERS[(i + i // 10) % len(MARKERS)],
            "linestyle": LINESTYLES[(i // 10) % len(LINESTYLES)]}
