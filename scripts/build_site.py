"""Build the documentation site: the user guide (README, docs/, benchmarks, recipe READMEs) as
HTML pages that mirror the repository's layout, plus the API reference from the docstrings (pdoc).

Every Markdown page becomes ``<site>/<same path>.html`` (README.md is also ``index.html``); a
relative link to a ``.md`` file becomes a link to its ``.html`` page, and every other relative
link target (figures, CSV/JSON results) is copied into the site at its own path, so each
relative link that resolves in the repository resolves in the site too
(``tests/test_site.py`` checks it). The API reference is ``<site>/api/``.

    python scripts/build_site.py site        # (bash scripts/docs.sh does this in the docs venv)
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r'(href|src)="([^"]+)"')
EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#|/)")
TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - bitrobust</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{max-width:60rem;margin:2rem auto;padding:0 1rem;font:16px/1.5 system-ui,sans-serif}}
pre{{background:#f5f5f5;padding:.6rem;overflow-x:auto}}code{{font-size:90%}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .5rem}}img{{max-width:100%}}
nav{{margin-bottom:1rem}}</style></head>
<body><nav><a href="{home}">bitrobust</a> · <a href="{api}">API reference</a></nav>
{body}
</body></html>
"""


def pages(root: Path = ROOT) -> list[Path]:
    """The Markdown pages of the guide, relative to ``root``."""
    found = [Path("README.md"), Path("BENCHMARKS.md")]
    found += sorted(p.relative_to(root) for p in (root / "docs").rglob("*.md"))
    found += sorted(p.relative_to(root) for p in (root / "benchmarks").glob("*.md"))
    found += sorted(p.relative_to(root) for p in (root / "src" / "bitrobust" / "recipes").rglob("*.md"))
    return [p for p in found if (root / p).is_file()]


def _rewrite(page: Path, body: str, root: Path, site: Path) -> str:
    """Links to .md pages point to their .html page; other local targets are copied into the site."""

    def fix(match: re.Match) -> str:
        attr, url = match.group(1), html.unescape(match.group(2))
        if EXTERNAL.match(url):
            return match.group(0)
        path, _, anchor = url.partition("#")
        source = (root / page.parent / path).resolve()
        if path.endswith(".md"):
            url = path[:-3] + ".html" + (f"#{anchor}" if anchor else "")
        elif source.is_file() and source.is_relative_to(root):
            target = site / source.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return f'{attr}="{html.escape(url)}"'

    return LINK.sub(fix, body)


def build_guide(site: Path, root: Path = ROOT) -> list[Path]:
    """Render every guide page into ``site``; returns the HTML files written."""
    from pdoc.render_helpers import to_html

    written = []
    for page in pages(root):
        depth = len(page.parts) - 1
        up = "../" * depth
        body = _rewrite(page, to_html((root / page).read_text()), root, site)
        title = next((line.lstrip("# ").strip() for line in (root / page).read_text().splitlines()
                      if line.startswith("#")), page.stem)
        out = site / page.with_suffix(".html")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(TEMPLATE.format(title=html.escape(title), body=body, home=f"{up}index.html",
                                       api=f"{up}api/bitrobust.html"))
        written.append(out)
    shutil.copyfile(site / "README.html", site / "index.html")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="output directory (replaced)")
    parser.add_argument("--no-api", action="store_true", help="skip the API reference (pdoc over the package)")
    args = parser.parse_args(argv)
    if args.site.exists():
        shutil.rmtree(args.site)
    args.site.mkdir(parents=True)
    written = build_guide(args.site)
    if not args.no_api:
        subprocess.run([sys.executable, "-m", "pdoc", "bitrobust", "--math", "-o", str(args.site / "api")], check=True)
    api = "" if args.no_api else " and the API reference (api/)"
    print(f"{len(written)} guide pages{api} in {args.site} (open {args.site / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
