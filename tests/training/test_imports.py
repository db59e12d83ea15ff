"""Strategies get a StepContext, not the trainer: no module of ``bitrobust.training`` but
``trainer.py`` and the package's ``__init__.py`` imports ``bitrobust.training.trainer``
(found by parsing the source, imports inside functions and ``if TYPE_CHECKING:`` included)."""

from __future__ import annotations

import ast
from pathlib import Path

import bitrobust.training

PACKAGE = Path(bitrobust.training.__file__).parent
ALLOWED = {"trainer.py", "__init__.py"}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved; ``from p import m`` also counts ``p.m``."""
    package = "bitrobust.training"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_only_the_trainer_and_the_package_import_the_trainer():
    offenders = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name in ALLOWED:
            continue
        modules = imported_modules(path)
        # the package itself imports the trainer, so importing it counts as importing the trainer
        bad = sorted(m for m in modules if m == "bitrobust.training" or m.startswith("bitrobust.training.trainer"))
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


def test_the_check_sees_lazy_and_relative_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from bitrobust.training.trainer import Trainer\n"
        "def f():\n    from . import trainer\n    from .trainer import Trainer\n"
    )
    modules = imported_modules(source)
    assert {"bitrobust.training.trainer", "bitrobust.training.trainer.Trainer"} <= modules
