"""``bitrobust recipes``: the shipped YAML recipes by name, with their one-line descriptions."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "recipes",
        help="list the shipped training recipes (names for bitrobust train)",
        description="List the YAML recipes shipped with bitrobust by name (use the name with bitrobust train, "
        "e.g. bitrobust train paper3/rquant.quick --out runs/rquant) with their descriptions; NAME prefixes "
        "filter the list (e.g. bitrobust recipes paper3/randbet). --show NAME prints one recipe.",
    )
    p.add_argument("prefix", nargs="*", metavar="PREFIX", help="list only names starting with one of these")
    p.add_argument("--show", metavar="NAME", help="print the recipe NAME (e.g. quickstart)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bitrobust.config import load_yaml
    from bitrobust.errors import BitrobustError
    from bitrobust.experiments.recipes import RECIPES_DIR, find_recipe, recipe_description, recipe_names

    if args.show:
        path = find_recipe(args.show)
        load_yaml(path)  # a readable YAML mapping, else a one-line error
        print(path.read_text(), end="")
        return 0
    names = [n for n in recipe_names() if not args.prefix or any(n.startswith(p) for p in args.prefix)]
    if not names:
        raise BitrobustError(f"no recipe starts with {', '.join(args.prefix)}; `bitrobust recipes` lists them all")
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name.ljust(width)}  {recipe_description(RECIPES_DIR / f'{name}.yaml')}")
    return 0
