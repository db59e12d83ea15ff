"""Copy experiment reports from runs/reproduce/quick into docs/results/reproduce (see README.md).

Usage: python docs/results/copy_results.py NAME... [--from DIR]; files over 1 MB are left out.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

LIMIT = 1 << 20  # bytes


def copy_report(src: Path, dst: Path) -> list[Path]:
    """Copy ``src`` to ``dst`` (replacing it), leaving out files over LIMIT; returns the left-out files."""
    if dst.exists():
        shutil.rmtree(dst)
    left_out = []
    for path in sorted(src.rglob("*")):
        if path.is_file():
            if path.stat().st_size > LIMIT:
                left_out.append(path.relative_to(src))
                continue
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return left_out


def main() -> None:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--from", dest="src", default="runs/reproduce/quick")
    args = parser.parse_args()
    for name in args.names:
        src = Path(args.src) / name
        if not (src / "report.md").is_file():
            raise SystemExit(f"copy_results: {src} has no report.md")
        skipped = copy_report(src, here / "reproduce" / name)
        print(f"{name}: copied" + (f"; left out {', '.join(map(str, skipped))}" if skipped else ""))


if __name__ == "__main__":
    main()
