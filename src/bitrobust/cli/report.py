"""``bitrobust report RUN_DIR... --out DIR``: compare evaluated models in tables and figures;
``bitrobust report --compare A B --out DIR``: the paired comparison of two models (contract 8);
``bitrobust report --verdicts RESULTS_DIR --doc FILE``: the generated verdicts of a results page."""

from __future__ import annotations

import argparse

from bitrobust.cli.common import output_dir, positive_float
from bitrobust.errors import BitrobustError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="tables and figures comparing evaluated models (RErr per p, Prop. 1 bounds, best model per p)",
        description="Read robustness.json (from `bitrobust eval`) of each run directory and write report.md, "
        "report.csv and report.json (Err, RErr mean ± std per bit error rate with the Prop. 1 upper bound "
        "of paper 3 App. C.2, best model per p) plus rerr_vs_p.png and confidence.png to --out. With "
        "--compare A B: per p the mean paired RErr difference A - B over the same chips (and seeds) with its "
        "95%% interval and a verdict (A lower, B lower, not resolved), in compare.md, .csv and .json. With "
        "--verdicts RESULTS_DIR [RESULTS_DIR ...] --doc FILE: rewrite the verdict markers of FILE (e.g. "
        "docs/RESULTS.md) from the paired comparisons in RESULTS_DIR/<experiment>/results.json (markers NAME: the "
        "quick budget's report, NAME@BUDGET another budget's).",
    )
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run directories (or robustness.json files)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="compare two models: each a run directory, or several separated by commas (one per "
                   "training seed, paired in the order given), evaluated on the same chips")
    p.add_argument("--verdicts", metavar="RESULTS_DIR", nargs="+",
                   help="directories of experiment reports (RESULTS_DIR/<experiment>/results.json, from `bitrobust "
                   "reproduce`) whose paired comparisons fill the verdict markers of --doc; a marker NAME takes the "
                   "quick budget's report, NAME@medium (or @full) that budget's, from whichever directory holds it")
    p.add_argument("--doc", help="with --verdicts: the Markdown file whose <!-- verdict:NAME --> and "
                   "<!-- verdicts:NAME --> ... <!-- /verdict --> blocks are rewritten")
    p.add_argument("--out", help="output directory (required unless --verdicts)")
    p.add_argument("--delta", type=float, default=0.01,
                   help="Prop. 1 bounds hold with probability 1 - delta (default 0.01: 99%%)")
    p.add_argument("--names", choices=("config", "dir"), default="config",
                   help="model names from the training config in paper notation (default) or the directory names")
    p.add_argument("--title", default="Robustness report", help="title of report.md")
    p.add_argument("--ymax", type=positive_float, help="upper limit of the RErr axis in %% (default: automatic)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bitrobust.metrics.bounds import excess_term
    from bitrobust.reports.runs import load_runs
    from bitrobust.reports.comparison import best_per_rate
    from bitrobust.reports.tables import ReportSettings, write_report
    from bitrobust.reports.text import pct

    if args.verdicts or args.doc:
        return _verdicts(args)
    if not args.out:
        raise BitrobustError("--out is required (the output directory)")
    out = output_dir(args.out)
    if bool(args.runs) == bool(args.compare):
        raise BitrobustError("give run directories to report on, or --compare A B, not both or neither")
    if args.compare:
        return _compare(args, out)
    excess_term(1, 1, args.delta)  # validates delta with a one-line error
    runs = load_runs(args.runs, name_from=args.names)
    settings = ReportSettings(delta=args.delta, title=args.title, ymax=args.ymax)
    paths = write_report(runs, out, settings)
    for b in best_per_rate(runs, args.delta):
        print(f"m={b.bits} p={100 * b.p:g}%: best {b.name} RErr {pct(b.rerr_mean)} ± {pct(b.rerr_std)}%")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _compare(args: argparse.Namespace, out) -> int:
    from bitrobust.reports.paired import compare, write_comparison
    from bitrobust.reports.runs import load_run
    from bitrobust.reports.text import pct

    sides = [[load_run(p, args.names) for p in side.split(",") if p] for side in args.compare]
    labels = [" / ".join(dict.fromkeys(r.name for r in side)) for side in sides]
    rows = compare([r.result for r in sides[0]], [r.result for r in sides[1]])
    paths = write_comparison(rows, labels[0], labels[1], out)
    print(f"A = {labels[0]}, B = {labels[1]}")
    for r in rows:
        d = r.diff
        print(f"p={100 * r.p:g}%: A {pct(r.mean_a)}%, B {pct(r.mean_b)}%, A - B {pct(d.mean)} "
              f"[{pct(d.low)}, {pct(d.high)}] -> {d.verdict} (n={r.n}, l={d.chips}, seeds={d.seeds})")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _verdicts(args: argparse.Namespace) -> int:
    from bitrobust.reports.verdicts import write_verdicts

    if not (args.verdicts and args.doc) or args.runs or args.compare or args.out:
        raise BitrobustError("--verdicts RESULTS_DIR [RESULTS_DIR ...] needs --doc FILE, and no run directories, "
                             "--compare or --out")
    used, left = write_verdicts(args.doc, args.verdicts)
    print(f"wrote the verdicts of {', '.join(used)} into {args.doc}")
    if left:
        print(f"left as they were (results without paired comparisons; re-run them): {', '.join(left)}")
    return 0
