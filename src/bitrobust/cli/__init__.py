"""The ``bitrobust`` command line.

Each subcommand lives in its own module of this package and exposes
``add_parser(subparsers)`` (which registers the subcommand and sets ``func``). Only the
chosen subcommand's module is imported (``bitrobust --help`` lists the others from
``COMMANDS``), and the modules import torch only when they run, so help is instant.
User errors (:class:`~bitrobust.errors.BitrobustError`) print one line to stderr and exit
with status 2; a closed output pipe (``bitrobust reproduce --list | head``) ends quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from bitrobust import console
from bitrobust.errors import BitrobustError
from bitrobust.version import __version__

# Subcommands in the order `bitrobust --help` lists them, with their one-line help.
COMMANDS = {
    "data": "check or download datasets",
    "recipes": "list the shipped training recipes (names for bitrobust train)",
    "train": "train a model from a YAML recipe",
    "eval": "robust test error (RErr) of a saved model under bit errors, or another evaluation kind",
    "metrics": "bit error tolerance metrics of a saved BNN: T^b, T-bar, neuron importance Pi, VAR(Pi)",
    "report": "tables and figures comparing evaluated models (RErr per p, Prop. 1 bounds, best model per p)",
    "energy": "highest tolerated bit error rate per model and the SRAM energy it saves",
    "reproduce": "reproduce a table or figure of the papers (train, evaluate, report); --list shows them",
    "quickstart": "train a small CNN on MNIST and plot its robust error vs bit error rate",
}


def _verbosity_flags(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("-q", "--quiet", action="count", default=default,
                        help="only results and errors: no progress bars or progress lines")
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="progress bars even when not on a terminal; full traceback on errors")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with ``command``'s full subparser (all of them when None); the other subcommands
    are listed by name and help only."""
    parser = argparse.ArgumentParser(
        prog="bitrobust",
        description="Bit error robustness for quantized and binarized neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"bitrobust {__version__}")
    _verbosity_flags(parser, 0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_line in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(f"bitrobust.cli.{name}").add_parser(sub)
            _verbosity_flags(sub.choices[name], argparse.SUPPRESS)  # also after the subcommand
        else:
            sub.add_parser(name, help=help_line, add_help=False)
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first argument that is one), if any."""
    return next((a for a in argv if a in COMMANDS), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(argv)
    parser = build_parser(command) if command else build_parser("__none__")
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    console.set_verbosity(args.verbose - args.quiet)
    try:
        return int(args.func(args) or 0)
    except BitrobustError as exc:
        if console.verbose():
            traceback.print_exc()
        print(f"bitrobust: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bitrobust: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout left (`bitrobust recipes | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when stdout is flushed at exit
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by a broken pipe
    finally:
        console.set_verbosity(0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
