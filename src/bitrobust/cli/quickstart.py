"""``bitrobust quickstart``: train a small CNN on MNIST and measure its bit error robustness.

The whole loop in one command: quantization-aware training (8-bit RQUANT) of cnn_small for
two epochs (the shipped recipe "quickstart"), then Err and RErr over persistent random chips
at the recipe's bit error rates, written as JSON/CSV/Markdown and a PNG plot. Running it
again resumes or reuses the finished run.
"""

from __future__ import annotations

import argparse
import time

from bitrobust.cli.common import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "quickstart",
        help="train a small CNN on MNIST and plot its robust error vs bit error rate",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    p.add_argument("--out", default="runs/quickstart", help="run directory (default runs/quickstart)")
    p.add_argument("--epochs", type=positive_int, help="training epochs (default: the recipe's, 2)")
    p.add_argument("--chips", type=positive_int, help="persistent chips to average over (default: the recipe's, 10)")
    p.add_argument("--rates", help="bit error rates (default: the recipe's, 0.1%%,0.5%%,1%%,5%%,10%%)")
    p.add_argument("--test-subset", type=positive_int, default=5000,
                   help="evaluate RErr on a stratified subset of this many test images (default 5000; Err is "
                   "measured on the whole test set during training)")
    p.add_argument("--data-dir", help="dataset directory (default: $BITROBUST_DATA or the user cache)")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bitrobust.cli import build_parser
    from bitrobust.cli import eval as eval_cmd
    from bitrobust.cli.common import data_dir_arg, output_dir, parse_rates
    from bitrobust.config import apply_overrides, from_dict, load_yaml
    from bitrobust.experiments.recipes import find_recipe
    from bitrobust.training import TrainConfig, Trainer

    output_dir(args.out)  # validate before training
    data_dir_arg(args.data_dir)
    if args.rates is not None:
        parse_rates(args.rates)
    overrides = [f"device={args.device}"] + ([f"epochs={args.epochs}"] if args.epochs else [])
    config = from_dict(TrainConfig, apply_overrides(load_yaml(find_recipe("quickstart")), overrides))
    start = time.perf_counter()
    Trainer(config, args.out, progress=not args.no_progress, data_dir=args.data_dir).fit(resume=True)
    flags = [("--rates", args.rates), ("--chips", args.chips), ("--data-dir", args.data_dir),
             ("--test-subset", args.test_subset)]
    eval_args = ["eval", args.out, "--device", args.device, "--out", args.out]
    eval_args += [x for flag, value in flags if value is not None for x in (flag, str(value))]
    code = eval_cmd.run(build_parser("eval").parse_args(eval_args + (["--no-progress"] if args.no_progress else [])))
    print(f"quickstart done in {(time.perf_counter() - start) / 60:.1f} min")
    return code
