"""The ``bitrobust`` command line.

Each subcommand lives in its own module of this package and exposes
``add_parser(subparsers)`` (which registers the subcommand and sets ``func``) .
User errors (:class:`~bitrobust.errors.BitrobustError`) print one line to stderr and
exit with status 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bitrobust.version import __version__
from bitrobust.errors import BitrobustError

# Subcommand modules, in the order `bitrobust --help` lists them.
COMMANDS = ["data", "recipes", "train", "eval", "metrics", "report", "energy", "reproduce", "quickstart"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bitrobust",
        description="Bit error robustness for quantized and binarized neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"bitrobust {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"bitrobust.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except BitrobustError as exc:
        print(f"bitrobust: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bitrobust: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
