"""The YAML recipes, shipped inside the package (``bitrobust/recipes/``) and addressed by name.

A recipe's name is its path below the recipe directory without ``.yaml``: ``quickstart``,
``paper3/rquant.quick``, ``bnn/fashion_fc_st_p5.quick``. ``bitrobust train NAME`` and the
experiments find recipes by name, so they work from an installed wheel in any directory; a
path to a YAML file works too. ``--configs DIR`` (or ``$BITROBUST_CONFIGS``) points the
experiments at another recipe directory with the same layout.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from bitrobust.errors import BitrobustError

CONFIGS_ENV = "BITROBUST_CONFIGS"
RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


def _is_recipe_dir(path: Path) -> bool:
    return (path / "paper3").is_dir() or (path / "bnn").is_dir()


def find_configs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The recipe directory: ``explicit``, else ``$BITROBUST_CONFIGS``, else the recipes shipped in the package.

    >>> (find_configs_dir() / "quickstart.yaml").is_file()
    True
    """
    if explicit or os.environ.get(CONFIGS_ENV):
        path = Path(explicit or os.environ[CONFIGS_ENV]).expanduser()
        if not _is_recipe_dir(path):
            what = "--configs" if explicit else f"${CONFIGS_ENV}"
            raise BitrobustError(f"{what} {path}: not a recipe directory (no paper3/ or bnn/ in it)")
        return path
    return RECIPES_DIR


def recipe_names(configs_dir: Path = RECIPES_DIR) -> list[str]:
    """Every recipe's name, sorted.

    >>> "paper3/rquant.quick" in recipe_names()
    True
    """
    return sorted(p.relative_to(configs_dir).with_suffix("").as_posix() for p in configs_dir.rglob("*.yaml"))


def find_recipe(name_or_path: str | os.PathLike) -> Path:
    """The recipe file: an existing file as given, else the shipped recipe of that name (``.yaml`` optional).

    >>> find_recipe("quickstart").name
    'quickstart.yaml'
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    name = str(name_or_path).removesuffix(".yaml")
    candidate = RECIPES_DIR / f"{name}.yaml"
    if name and not Path(name).is_absolute() and ".." not in Path(name).parts and candidate.is_file():
        return candidate
    if path.is_dir():
        raise BitrobustError(f"recipe {name_or_path}: is a directory, not a YAML file")
    close = difflib.get_close_matches(name, recipe_names(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `bitrobust recipes` lists them"
    raise BitrobustError(f"recipe not found: {name_or_path} (neither a file nor a recipe name{hint})")


def recipe_description(path: Path) -> str:
    """The first comment line of a recipe (its one-line description)."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def recipes_label(configs_dir: Path) -> str:
    """How reports name a recipe directory: the shipped one by name, another as given.

    >>> recipes_label(RECIPES_DIR)
    'bitrobust/recipes (shipped)'
    """
    return "bitrobust/recipes (shipped)" if Path(configs_dir).resolve() == RECIPES_DIR else str(configs_dir)
