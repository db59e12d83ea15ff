"""Copy experiment reports from runs/reproduce/BUDGET into docs/results (see README.md).

Usage: python docs/results/copy_results.py NAME... [--budget quick|medium] [--from DIR]; quick reports go to
docs/results/reproduce/NAME, medium ones to docs/results/reproduce-medium/NAME; files over 1 MB are left out.
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
    parser.add_argument("--budget", choices=("quick", "medium"), default="quick")
    parser.add_argument("--from", dest="src", help="default: runs/reproduce/BUDGET")
    args = parser.parse_args()
    dst = here / ("reproduce" if args.budget == "quick" else f"reproduce-{args.budget}")
    for name in args.names:
        src = Path(args.src or f"runs/reproduce/{args.budget}") / name
        if not (src / "report.md").is_file():
            raise SystemExit(f"copy_results: {src} has no report.md")
        skipped = copy_report(src, dst / name)
        print(f"{name}: copied" + (f"; left out {', '.join(map(str, skipped))}" if skipped else ""))


if __name__ == "__main__":
    main()
