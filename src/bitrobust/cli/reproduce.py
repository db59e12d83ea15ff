"""``bitrobust reproduce NAME``: train, evaluate and report one table or figure of the papers.

``--list`` shows every experiment with what it reproduces and its estimated runtime. A
run trains the models that are missing (resuming unfinished ones), evaluates what is
missing, and writes ``OUT/NAME/report.md`` with tables and figures (see
docs/reproduce.md).
"""

from __future__ import annotations

import argparse

from bitrobust import console
from bitrobust.cli.common import data_dir_arg, output_dir, positive_int
from bitrobust.errors import BitrobustError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce a table or figure of the papers (train, evaluate, report); --list shows them",
        description="Train the models an experiment needs (skipping finished ones, resuming unfinished ones), "
        "evaluate them (skipping finished evaluations) and write the experiment's report (Markdown, CSV, JSON, "
        "PNG) and its resolved definition (experiment.yaml) to OUT/NAME/. --list prints all experiments.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="experiment name (see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--budget", choices=("quick", "medium", "full"), default="quick",
                   help="quick: small models on MNIST/Fashion-MNIST, CPU minutes to hours; medium (p3-table21 only): "
                   "the paper's model and dataset at a short schedule, CPU hours; full: the papers' settings, a GPU "
                   "(default quick)")
    p.add_argument("--out", help="output directory (default runs/reproduce/BUDGET, runs/reproduce/BUDGET-smoke with --smoke)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny pipeline check for CI: 200 training / 100 test images, 2 steps, 2 chips, 2 rates, few runs")
    p.add_argument("--configs", help="another recipe directory with the layout of the shipped one (default: $BITROBUST_CONFIGS, else the recipes shipped in the package)")
    p.add_argument("--data-dir", help="dataset directory (default: $BITROBUST_DATA or the user cache)")
    p.add_argument("--dry-run", action="store_true", help="print the runs and evaluations without running them")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--batch-size", type=positive_int,
                   help="test examples per forward pass of the evaluations this call runs (default: each kind's, "
                   "1000; on a CPU 64 is about twice as fast; outputs may differ from another batch size's in the "
                   "last bits; each evaluation's eval_config.json records it)"),
    p.set_defaults(func=run)


def list_text(configs_dir=None) -> str:
    from bitrobust.experiments import all_experiments
    from bitrobust.experiments.estimate import estimate_text

    head = ("NAME", "REPRODUCES", "QUICK (estimate)", "MEDIUM", "FULL (estimate)", "TITLE")
    rows = []
    for exp in all_experiments():
        est = estimate_text(exp, configs_dir)
        rows.append((exp.name, f"{exp.paper}: {exp.reproduces}", est["quick"], est["medium"], est["full"], exp.title))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in [head] + rows]
    lines.append("")
    lines.append("Runtimes: quick and medium on one CPU thread (from measured step times), full on one GPU (rough guesses, "
                 "not measured); training and evaluation from scratch, shared models counted once per experiment.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from bitrobust.experiments import EXPERIMENTS
    from bitrobust.experiments.plan import default_out, make_plan
    from bitrobust.experiments.recipes import find_configs_dir
    from bitrobust.experiments.schedule import reproduce

    if args.list:
        try:
            configs = find_configs_dir(args.configs)
        except BitrobustError:
            if args.configs:
                raise
            configs = None
        print(list_text(configs))
        return 0
    if not args.name:
        raise BitrobustError("name an experiment (bitrobust reproduce NAME) or use --list; valid: "
                             + ", ".join(EXPERIMENTS.names()))
    exp = EXPERIMENTS.get(args.name)
    out = output_dir(args.out or default_out(args.budget, args.smoke))
    data_dir_arg(args.data_dir)
    configs = find_configs_dir(args.configs)
    if args.dry_run:
        plan = make_plan(exp, args.budget, out, configs, args.smoke)
        print(f"{exp.name}: {exp.reproduces} -- {exp.title} ({args.budget}{', smoke' if args.smoke else ''})")
        for r in plan.all_runs():
            state = "finished" if r.finished else "to train"
            print(f"run  {r.label}: {r.recipe.name} {' '.join(r.overrides)} -> {r.run_dir} [{state}]")
        for e in plan.all_evals():
            print(f"eval {e.run.label}: {e.kind.describe(e.settings)} -> {e.out_dir} [{'done' if e.done else 'to run'}]")
        print(f"report -> {plan.report_dir}")
        return 0
    quiet = console.quiet()
    plan = reproduce(exp, args.budget, out, configs, smoke=args.smoke, data_dir=args.data_dir,
                     progress=not args.no_progress, log=(lambda _line: None) if quiet else print,
                     batch_size=args.batch_size)
    if quiet:
        print(plan.report_dir / "report.md")
    return 0
