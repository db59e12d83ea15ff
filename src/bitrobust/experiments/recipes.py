"""Where the YAML recipes of the experiments are: ``configs/`` with ``paper3/`` and ``bnn/``.

An experiment names its runs by recipe path relative to this directory
(``paper3/rquant.{budget}.yaml``), so the same definitions work wherever the recipes are.
"""

from __future__ import annotations

import os
from pathlib import Path

from bitrobust.errors import BitrobustError

CONFIGS_ENV = "BITROBUST_CONFIGS"


def _is_recipe_dir(path: Path) -> bool:
    return (path / "paper3").is_dir() or (path / "bnn").is_dir()


def find_configs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The recipe directory: ``explicit``, else ``$BITROBUST_CONFIGS``, else the repository's
    ``configs/`` (found relative to this package's source), else ``./configs``.

    >>> (find_configs_dir() / "quickstart.yaml").is_file()
    True
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not _is_recipe_dir(path):
            raise BitrobustError(f"--configs {path}: not a recipe directory (no paper3/ or bnn/ in it)")
        return path
    candidates = []
    if os.environ.get(CONFIGS_ENV):
        candidates.append(Path(os.environ[CONFIGS_ENV]).expanduser())
    candidates.append(Path(__file__).resolve().parents[3] / "configs")  # src/bitrobust/experiments -> repo
    candidates.append(Path.cwd() / "configs")
    for path in candidates:
        if _is_recipe_dir(path):
            return path
    raise BitrobustError(
        "recipe directory not found (tried " + ", ".join(str(p) for p in candidates)
        + "); pass --configs DIR (the configs/ directory of the bitrobust repository)"
    )
