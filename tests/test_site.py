"""The documentation site has no broken relative link: every href/src of every guide page resolves
to a file in the built site (scripts/build_site.py; the API reference is left out here)."""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("pdoc", reason="the docs extra (pdoc) renders the guide")


def _builder():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_relative_link_of_the_guide_resolves_in_the_site(tmp_path):
    builder = _builder()
    site = tmp_path / "site"
    site.mkdir()
    written = builder.build_guide(site)
    assert {p.relative_to(site).as_posix() for p in written} >= {"README.html", "docs/concepts.html", "BENCHMARKS.html"}
    checked, broken = 0, []
    for page in written:
        for _, url in builder.LINK.findall(page.read_text()):
            url = html.unescape(url)
            if builder.EXTERNAL.match(url) or "api/" in url:
                continue
            checked += 1
            if not (page.parent / url.partition("#")[0]).resolve().is_file():
                broken.append(f"{page.relative_to(site)} -> {url}")
    assert checked > 100 and not broken, broken


def test_a_link_to_a_missing_page_is_found(tmp_path):
    builder = _builder()
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# x\n\n[ok](docs/a.md) [gone](docs/missing.md)\n")
    (tmp_path / "docs" / "a.md").write_text("# a\n")
    site = tmp_path / "site"
    written = builder.build_guide(site, root=tmp_path)
    links = [u for _, u in builder.LINK.findall((site / "README.html").read_text())]
    assert {"docs/a.html", "docs/missing.html"} <= set(links)
    assert (site / "docs" / "a.html") in written and not (site / "docs" / "missing.html").exists()
