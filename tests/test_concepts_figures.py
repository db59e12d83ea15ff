"""docs/figures/make_concepts_figures.py draws the figures docs/concepts.md shows (run here into a temporary
directory), and concepts.md references every one of them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "figures" / "make_concepts_figures.py"


def test_the_script_draws_every_figure_that_concepts_shows(tmp_path):
    spec = importlib.util.spec_from_file_location("make_concepts_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(tmp_path)
    concepts = (ROOT / "docs" / "concepts.md").read_text()
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(figures/{path.name})" in concepts and (ROOT / "docs" / "figures" / path.name).is_file()
