"""``bitrobust train RECIPE --out RUN_DIR``: train a model from a YAML recipe (a shipped recipe's name or a file)."""

from __future__ import annotations

import argparse

from bitrobust.cli.common import data_dir_arg, output_dir
from bitrobust.config import apply_overrides, from_dict, load_yaml
from bitrobust.errors import BitrobustError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a YAML recipe",
        description="Train a model from a YAML recipe: a name of a shipped recipe (bitrobust recipes lists them, e.g. quickstart or paper3/rquant.quick) or a YAML file. The run directory receives the "
        "resolved config.yaml, metrics.jsonl, model.safetensors + model.json and the trainer state "
        "for --resume. Under torchrun the same command trains data-parallel.",
    )
    p.add_argument("recipe", help="recipe name (e.g. quickstart, paper3/randbet_0.1_p1.quick) or YAML file")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe field, e.g. --set epochs=2 --set optim.lr=0.01 (repeatable)")
    p.add_argument("--format", help="number format of the weights, e.g. int8_channel, int4_g128, fp16, bf16, "
                   "fp8_e4m3 (sets quant.format, in place of quant.bits/scheme; see docs/concepts.md)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out after its last finished epoch")
    p.add_argument("--data-dir", help="dataset directory (default: $BITROBUST_DATA or the user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bitrobust.experiments.recipes import find_recipe
    from bitrobust.training import TrainConfig, Trainer

    output_dir(args.out)
    data_dir_arg(args.data_dir)
    path = find_recipe(args.recipe)
    recipe = load_yaml(path)
    if not recipe:
        raise BitrobustError(f"recipe {path} is empty; `bitrobust recipes --show quickstart` shows a complete one")
    overrides = list(args.overrides) + ([f"quant.format={args.format}"] if args.format is not None else [])
    config = from_dict(TrainConfig, apply_overrides(recipe, overrides))
    metrics = Trainer(config, args.out, progress=not args.no_progress, data_dir=args.data_dir).fit(resume=args.resume)
    if metrics:
        print(f"test Err {100 * metrics['test_error']:.2f}% after epoch {metrics['epoch']}; run in {args.out}")
    return 0
